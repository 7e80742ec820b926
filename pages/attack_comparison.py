"""Attack comparison and ablation: six attacks on one training run (paper Tables 3/4) and ST-GIA
with each component switched off (Fig. 4)."""
import streamlit as st

from core.attacks import registry
from ui import jobs, session
from ui.experiments import available, comparison_work, save_doc
from ui.forms import run_form
from ui.views import comparison_view, load_json_upload

PAPER_ATTACKS = ["dlg", "idlg", "invgrad", "cpl", "sapag", "st-gia"]
DEFAULTS = dict(clients=10, rounds=10, iters=100)

st.title("Attack comparison & ablation")
form = run_form(with_attack=False, with_defense=False, defaults=DEFAULTS)
if form.error:
    st.error(form.error)
if not available("compare", "compare_attacks"):
    st.warning("core.experiments.compare is not available in this installation yet: running is "
               "disabled; you can still load a compare-attacks or ablation JSON written by the CLI.")


def start(kind: str, key: str, names=None) -> None:
    cfg = form.config
    what = "six attacks" if kind == "compare-attacks" else "ablation of st-gia"
    title = f"{what} · {cfg.clients} clients · {cfg.rounds} rounds · {cfg.iters} iterations"
    job = jobs.Job(kind, title, owner=session.workspace(), private=form.choice.private)
    jobs.start(key, job, comparison_work(kind, cfg, form.choice, names),
               save_doc(session.store(), kind))


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


can_run = form.config is not None and available("compare", "compare_attacks")
tab_cmp, tab_abl = st.tabs(["Six attacks (Tables 3/4)", "Ablation (Fig. 4)"])
with tab_cmp:
    names = st.multiselect("Attacks", registry.names(), default=PAPER_ATTACKS, key="attacks_sel")
    job = jobs.get("cmp_job")
    if st.button("Run comparison", type="primary", icon=":material/play_arrow:", key="run_cmp",
                 disabled=not can_run or not names or (job is not None and job.running)):
        start("compare-attacks", "cmp_job", names)
    if jobs.panel("cmp_job", lambda j: render(j, "cmp")) is None:
        doc = load_json_upload("…or load a compare-attacks JSON", "cmp_json", ("attacks",))
        if doc:
            comparison_view(doc, key="cmp_loaded")
with tab_abl:
    st.caption("ST-GIA, then ST-GIA without its spatiotemporal initialisation, without mapping "
               "onto roads, and without calibration over rounds — on the same uploads.")
    job = jobs.get("abl_job")
    if st.button("Run ablation", type="primary", icon=":material/play_arrow:", key="run_abl",
                 disabled=not can_run or (job is not None and job.running)):
        start("ablation", "abl_job")
    if jobs.panel("abl_job", lambda j: render(j, "abl")) is None:
        doc = load_json_upload("…or load an ablation JSON", "abl_json", ("variants",))
        if doc:
            comparison_view(doc, key="abl_loaded")
