"""Attack lab: configure a federated run and an attack, watch the server reconstruct locations."""
import streamlit as st

from ui import jobs, results
from ui.forms import run_form, start_experiment

KEY = "lab_job"

st.title("Attack lab")
form = run_form("attack")
if form.error:
    st.error(form.error)

job = jobs.get(KEY)
c1, c2 = st.columns([1, 5])
clicked = c1.button("Run", type="primary", icon=":material/play_arrow:",
                    disabled=form.config is None or (job is not None and job.running))
c2.caption("The configuration is in the page address: copy it to share this setup.")
if clicked and form.config is not None:
    cfg = form.config
    data = form.choice.label()
    name = cfg.attack.attack + "".join(f"-no-{c}" for c in cfg.attack.disable)
    d = cfg.defense
    title = (f"{name} on {data}"
             + (f" · {d.defense} ε={d.epsilon:g} ({d.epsilon_scope})" if d.defense != "none" else ""))
    start_experiment(form, "attack", KEY, title)

tiles = form.tiles


def render(j: jobs.Job) -> None:
    results.attack_job_summary(j, show_dataset=True, key="lab")


def render_slow(j: jobs.Job) -> None:
    results.attack_job_details(j, key="lab", tiles=tiles)


if jobs.panel(KEY, render, render_slow) is None:
    st.info("Pick a dataset, federation, attack and defense in the sidebar, then **Run**. "
            "The first round appears within seconds; the map and charts update as rounds finish.")
