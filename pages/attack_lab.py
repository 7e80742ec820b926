"""Attack lab: configure a federated run and an attack, watch the server reconstruct locations."""
import streamlit as st

from core.errors import InputError
from ui import jobs, results, session
from ui.attack_run import attack_spec, attack_work, save_attack
from ui.forms import run_form

KEY = "lab_job"

st.title("Attack lab")
form = run_form()
if form.error:
    st.error(form.error)

job = jobs.get(KEY)
c1, c2 = st.columns([1, 5])
clicked = c1.button("Run", type="primary", icon=":material/play_arrow:",
                    disabled=form.config is None or (job is not None and job.running))
c2.caption("The configuration is in the page address: copy it to share this setup.")
if clicked and form.config is not None:
    try:
        spec = attack_spec(form.config.attack, **form.components)
    except InputError as exc:
        st.error(str(exc))
    else:
        cfg = form.config
        data = "upload" if form.choice.source == "upload" else form.choice.dataset_name()
        title = (f"{spec.name} on {data} · {cfg.clients} clients · {cfg.rounds} rounds"
                 + (f" · {cfg.defense} ε={cfg.epsilon:g}" if cfg.defense != "none" else ""))
        job = jobs.Job("attack", title, owner=session.workspace(), private=form.choice.private)
        jobs.start(KEY, job, attack_work(cfg, spec, form.choice),
                   save_attack(session.store()))

tiles = form.tiles


def render(j: jobs.Job) -> None:
    results.attack_job_summary(j, show_dataset=True)


def render_slow(j: jobs.Job) -> None:
    results.attack_job_details(j, key="lab", tiles=tiles)


if jobs.panel(KEY, render, render_slow) is None:
    st.info("Pick a dataset, federation, attack and defense in the sidebar, then **Run**. "
            "The first round appears within seconds; the map and charts update as rounds finish.")
