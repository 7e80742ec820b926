"""ST-GIA Lab — `streamlit run app.py`.

The router: page setup and navigation only. Each page is a thin script in `pages/` (widgets ->
a frozen RunConfig -> a core call -> a core.viz figure); shared Streamlit helpers live in `ui/`.
"""
import streamlit as st

from ui.jobs import warm_up
from ui.session import remember_workspace

st.set_page_config(page_title="ST-GIA Lab", page_icon=":material/satellite_alt:", layout="wide")
warm_up()  # start the worker fork server (torch, core, demo city preloaded) once per server
remember_workspace()  # a reload reopens this browser's private runs (docs/workspaces.md)

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/attack_lab.py", title="Attack lab", icon=":material/my_location:"),
    st.Page("pages/defenses.py", title="Defense trade-offs", icon=":material/shield:"),
    st.Page("pages/attack_comparison.py", title="Attack comparison & ablation", icon=":material/bar_chart:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
]

st.navigation(PAGES).run()
