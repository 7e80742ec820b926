"""Home: what happens in spatiotemporal federated learning, where the leak is, a one-click demo."""
import streamlit as st

from core.experiments.config import RunConfig
from ui.nav import link
from ui import jobs, results, session
from ui.work import experiment_work, save_doc
from ui.data import DataChoice
from ui.forms import DEFAULTS

KEY = "home_job"

DIAGRAM = """
digraph fl {
  rankdir=TB; bgcolor="transparent"; nodesep=0.45; ranksep=0.45; pad=0.05;
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=14, fillcolor="#eef3fb", color="#5b7db1", margin="0.12,0.06"];
  edge [fontname="Helvetica", fontsize=13, color="#555555"];
  clients [label="phones\n(keep their\ntrajectories)"];
  defense [label="optional\nDP defense", fillcolor="#eaf6ea", color="#4a9a4a"];
  server [label="server\naverages\nthe updates", fillcolor="#f5f5f5", color="#777777"];
  attack [label="curious server:\ngradient\ninversion", fillcolor="#fbeaea", color="#c0392b"];
  leak [label="reconstructed\nlocations", shape=note, fillcolor="#fbeaea", color="#c0392b"];
  { rank=same; clients; defense; }
  { rank=same; server; attack; }
  clients -> defense [label=" gradient "];
  defense -> server [label=" upload"];
  server -> clients [label="new\nmodel ", style=dashed];
  server -> attack [label=" sees every\n upload", color="#c0392b", fontcolor="#c0392b"];
  attack -> leak [color="#c0392b"];
}
"""

if st.query_params.get_all("run"):  # a link to a run (/?run=ID) opens it in History
    st.switch_page("app_pages/history.py", query_params={"run": st.query_params.get_all("run")})

st.title("ST-GIA Lab")
st.markdown(
    "In **spatiotemporal federated learning** phones train a next-location model together: each "
    "round, every phone computes the gradient of the model's error on its own recent locations "
    "and uploads only that gradient; the server averages the uploads and updates the shared "
    "model. The raw locations never leave the phone — but the gradient is a function of them. "
    "An **honest-but-curious server** can search for the locations whose gradient matches the "
    "upload (*gradient inversion*). **ST-GIA** adapts image-era attacks to trajectories: it "
    "starts from the previous round's answer, snaps guesses onto the road network and averages "
    "the several rounds that see the same point. Whether that beats them depends on the "
    "setting: with the paper's one-point windows on a plain gradient, attacks that recover the "
    "label analytically (iDLG, InvGrad, CPL) are already exact and ST-GIA is not ahead of them "
    "(see *Attack comparison*). **Differential privacy** defenses add noise on the phone; the "
    "question is how much protection they buy for how much utility.")
st.graphviz_chart(DIAGRAM, width="content")  # natural size: 16 px text, ~700 px wide

st.subheader("Try it: one click, the embedded demo city")


def _qp_int(name: str, low: int, high: int) -> int:
    """The demo's size can be set in the URL (?clients=…&rounds=…&iters=…); else the defaults."""
    try:
        v = int(st.query_params.get(name, DEFAULTS[name]))
    except ValueError:
        v = DEFAULTS[name]
    return v if low <= v <= high else DEFAULTS[name]


cfg = RunConfig.build(clients=_qp_int("clients", 1, 100), rounds=_qp_int("rounds", 1, 100),
                      iters=_qp_int("iters", 1, 1000), attack="st-gia")
fed = cfg.federation
st.caption(f"{fed.clients} residents of a generated city train an LSTM for {fed.rounds} rounds; "
           f"the server runs ST-GIA ({cfg.attack.iters} iterations per round) on every upload.")
job = jobs.get(KEY)
if st.button("Run the demo", type="primary", icon=":material/play_arrow:",
             disabled=job is not None and job.running):
    job = jobs.Job("attack", f"demo: st-gia, {fed.clients} clients, {fed.rounds} rounds",
                   owner=session.workspace(), private=False)
    jobs.start(KEY, job, experiment_work("attack", cfg, DataChoice("demo")),
               save_doc(session.store(), "attack"))


def render(j: jobs.Job) -> None:
    results.attack_job_summary(j, key="home")


def render_slow(j: jobs.Job) -> None:
    results.attack_job_details(j, key="home")


jobs.panel(KEY, render, render_slow)

st.divider()
LINKS = [("app_pages/attack_lab.py", "Attack lab", ":material/my_location:"),
         ("app_pages/defenses.py", "Defense trade-offs", ":material/shield:"),
         ("app_pages/attack_comparison.py", "Attack comparison", ":material/bar_chart:"),
         ("app_pages/learn.py", "Learn", ":material/school:"),
         ("app_pages/history.py", "History", ":material/history:")]
cols = st.columns(3)  # three per row: five in a row were cut at 1,024 px with the sidebar open
for i, (page, label, icon) in enumerate(LINKS):
    link(page, label, icon, cols[i % 3])
