"""Defense trade-offs: a defense × ε sweep (paper Table 5, Fig. 5), the adaptive allocation over
rounds, and one user's reconstruction under each defense."""
import streamlit as st

from core.defenses import registry
from core.errors import InputError
from ui import jobs, session
from ui.experiments import available, defense_maps_work, defenses_work, save_doc
from ui.forms import run_form
from ui.views import defense_maps_view, defense_view, load_json_upload, parse_epsilons

DEFAULTS = dict(clients=10, rounds=10, iters=60)

st.title("Defense trade-offs")
st.markdown("Each defense spends a total budget **ε per user over the whole run**. Lower ASR is "
            "more private, higher recall@5 is more useful; the frontier shows what each defense "
            "buys.")
form = run_form(with_attack=False, with_defense=False, defaults=DEFAULTS)
if form.error:
    st.error(form.error)
defense_names = [n for n in registry.names() if n != "none"]
if not defense_names:
    st.warning("No defenses are registered in this installation yet.")


def render_sweep(j: jobs.Job) -> None:
    jobs.progress_line(j)
    if j.error:
        st.error(j.error)
    elif j.doc:
        defense_view(j.doc, key="sweep")
        if j.run_id:
            st.caption(f"Saved as run `{j.run_id}` (History).")


def render_maps(j: jobs.Job) -> None:
    jobs.progress_line(j)
    if j.error:
        st.error(j.error)
    elif j.doc:
        defense_maps_view(j.doc, key="dmaps", tiles=form.tiles)
        if j.run_id:
            st.caption(f"Saved as run `{j.run_id}` (History).")


tab_sweep, tab_maps = st.tabs(["Sweep: defense × ε", "One user under each defense"])
with tab_sweep:
    c1, c2 = st.columns([3, 2])
    chosen = c1.multiselect("Defenses", defense_names, default=defense_names, key="sweep_defs")
    eps_text = c2.text_input("ε values", "1, 10", key="sweep_eps",
                             help="total per-user budgets, comma-separated")
    n_runs = 1 + len(chosen) * max(1, len(eps_text.split(","))) + ("adaptive" in chosen)
    st.caption(f"{n_runs} federated runs of {form.config.rounds if form.config else '?'} rounds "
               "each (undefended baseline, each defense at each ε, and a proxy run for the adaptive "
               "defense's risk profile unless cached).")
    job = jobs.get("sweep_job")
    can = (form.config is not None and bool(chosen) and available("defenses", "compare_defenses")
           and not (job is not None and job.running))
    if not available("defenses", "compare_defenses"):
        st.warning("core.experiments.defenses is not available yet: load a compare-defenses JSON.")
    if st.button("Run sweep", type="primary", icon=":material/play_arrow:", key="run_sweep",
                 disabled=not can):
        try:
            eps = parse_epsilons(eps_text)
        except InputError as exc:
            st.error(str(exc))
        else:
            cfg = form.config
            job = jobs.Job("compare-defenses",
                           f"defenses {', '.join(chosen)} at ε {', '.join(f'{e:g}' for e in eps)} · "
                           f"{cfg.clients} clients · {cfg.rounds} rounds",
                           owner=session.workspace(), private=form.choice.private)
            jobs.start("sweep_job", job, defenses_work(cfg, form.choice, chosen, eps),
                       save_doc(session.store(), "compare-defenses"))
    if jobs.panel("sweep_job", render_sweep) is None:
        doc = load_json_upload("…or load a compare-defenses JSON", "sweep_json", ("defenses",))
        if doc:
            defense_view(doc, key="sweep_loaded")

with tab_maps:
    c1, c2 = st.columns([3, 2])
    chosen_m = c1.multiselect("Defenses", ["none"] + defense_names,
                              default=["none"] + defense_names, key="maps_defs")
    eps_m = c2.number_input("ε", value=5.0, step=1.0, key="maps_eps")
    job = jobs.get("maps_job")
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="run_maps",
                 disabled=form.config is None or not chosen_m or (job is not None and job.running)):
        if not eps_m > 0:
            st.error(f"ε must be a number > 0, not {eps_m:g}")
        else:
            cfg = form.config
            job = jobs.Job("defense-maps", f"one user under {', '.join(chosen_m)} at ε={eps_m:g} · "
                           f"{cfg.clients} clients · {cfg.rounds} rounds",
                           owner=session.workspace(), private=form.choice.private)
            jobs.start("maps_job", job, defense_maps_work(cfg, form.choice, chosen_m,
                                                             float(eps_m)),
                       save_doc(session.store(), "defense-maps"))
    if jobs.panel("maps_job", render_maps) is None:
        st.info("Runs ST-GIA on the same clients under each defense and shows one user's true and "
                "reconstructed trajectory side by side.")
