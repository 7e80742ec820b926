"""ST-GIA Lab — `streamlit run app.py`.

The router: page setup and navigation only. Each page is a thin script in `app_pages/` (not `pages/`: Streamlit would list that folder's files as its own navigation on a deep link to a fresh server) (widgets ->
a frozen RunConfig -> a core call -> a core.viz figure); shared Streamlit helpers live in `ui/`.
"""
from pathlib import Path

import streamlit as st

from ui.jobs import warm_up
from ui.session import remember_workspace

# a local file: a material-icon favicon is fetched from a web-font server (fails offline)
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"

st.set_page_config(page_title="ST-GIA Lab", page_icon=str(ICON), layout="wide")
warm_up()  # start the worker fork server (torch, core, demo city preloaded) once per server
remember_workspace()  # a reload reopens this browser's private runs (docs/workspaces.md)

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/attack_lab.py", title="Attack lab", icon=":material/my_location:"),
    st.Page("app_pages/defenses.py", title="Defense trade-offs", icon=":material/shield:"),
    st.Page("app_pages/attack_comparison.py", title="Attack comparison & ablation", icon=":material/bar_chart:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
]

st.navigation(PAGES).run()
