"""Attack comparison and ablation: the attacks on one training run (paper Tables 3/4) and ST-GIA
with each component switched off (Fig. 4)."""
import streamlit as st

from ui import jobs
from ui.forms import field_widget, run_form, start_experiment
from ui.views import comparison_view, load_json_upload

DEFAULTS = dict(clients=10, rounds=10, iters=100)

st.title("Attack comparison & ablation")
form = run_form("compare-attacks", defaults=DEFAULTS, exclude=("attacks",))
if form.error:
    st.error(form.error)


def start(kind: str, key: str, **values) -> None:
    what = ("attacks " + ", ".join(values.get("attacks", [])) if kind == "compare-attacks"
            else f"ablation of {values.get('base')}")
    start_experiment(form, kind, key, f"{what} · {form.values.get('iters')} iterations", **values)


def render(j: jobs.Job, key: str) -> None:
    jobs.progress_line(j)
    if j.error:
        st.error(j.error)
    elif j.doc:
        comparison_view(j.doc, key=key)
        if j.run_id:
            st.caption(f"Saved as run `{j.run_id}` (History).")
    elif j.running:
        st.caption("All recipes attack the same recorded uploads; results appear when it ends.")


can_run = form.error is None
tab_cmp, tab_abl = st.tabs(["Attacks side by side (Tables 3/4)", "Ablation (Fig. 4)"])
with tab_cmp:
    names = field_widget("attacks")
    job = jobs.get("cmp_job")
    if st.button("Run comparison", type="primary", icon=":material/play_arrow:", key="run_cmp",
                 disabled=not can_run or not names or (job is not None and job.running)):
        start("compare-attacks", "cmp_job", attacks=names)
    if jobs.panel("cmp_job", lambda j: render(j, "cmp")) is None:
        doc = load_json_upload("…or load a compare-attacks JSON", "cmp_json", ("attacks",))
        if doc:
            comparison_view(doc, key="cmp_loaded")
with tab_abl:
    st.caption("ST-GIA, then ST-GIA without its spatiotemporal initialisation, without mapping "
               "onto roads, and without calibration over rounds — on the same uploads.")
    c1, c2 = st.columns(2)
    with c1:
        base = field_widget("base")
    with c2:
        comps = field_widget("components")
    job = jobs.get("abl_job")
    if st.button("Run ablation", type="primary", icon=":material/play_arrow:", key="run_abl",
                 disabled=not can_run or (job is not None and job.running)):
        start("ablation", "abl_job", base=base, components=comps)
    if jobs.panel("abl_job", lambda j: render(j, "abl")) is None:
        doc = load_json_upload("…or load an ablation JSON", "abl_json", ("variants",))
        if doc:
            comparison_view(doc, key="abl_loaded")
