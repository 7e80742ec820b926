"""Defense trade-offs: a defense × ε sweep (paper Table 5, Fig. 5), the adaptive allocation over
rounds, and one user's reconstruction under each defense."""
import streamlit as st

from ui import jobs
from ui.forms import field_widget, run_form, start_experiment
from ui.views import defense_maps_view, defense_view, epsilon_scope_text, load_json_upload

DEFAULTS = dict(clients=10, rounds=10, iters=60)

st.title("Defense trade-offs")
form = run_form("compare-defenses", defaults=DEFAULTS, exclude=("defenses", "epsilons"))
st.markdown("Lower ASR is more private, higher recall@5 of the final model is more useful; the "
            "frontier shows what each defense buys. "
            + epsilon_scope_text(form.values.get("epsilon_scope", "round"),
                                 form.values.get("rounds", DEFAULTS["rounds"])))
if form.error:
    st.error(form.error)


def render(j: jobs.Job, view) -> None:
    jobs.progress_line(j)
    if j.error:
        st.error(j.error)
    elif j.doc:
        view(j.doc)
        if j.run_id:
            st.caption(f"Saved as run `{j.run_id}` (History).")


tab_sweep, tab_maps = st.tabs(["Sweep: defense × ε", "One user under each defense"])
with tab_sweep:
    c1, c2 = st.columns([3, 2])
    with c1:
        chosen = field_widget("defenses")
    with c2:
        eps = field_widget("epsilons")
    eps_ok = isinstance(eps, list) and bool(eps)
    n_runs = 1 + len(chosen) * (len(eps) if eps_ok else 1) + any(c.startswith("adaptive")
                                                                  for c in chosen)
    st.caption(f"{n_runs} federated runs of {form.values.get('rounds', '?')} rounds each "
               "(undefended baseline, each defense at each ε, and a proxy run for the adaptive "
               "defense's risk profile unless cached).")
    job = jobs.get("sweep_job")
    if st.button("Run sweep", type="primary", icon=":material/play_arrow:", key="run_sweep",
                 disabled=form.error is not None or not chosen or not eps_ok
                 or (job is not None and job.running)):
        start_experiment(form, "compare-defenses", "sweep_job",
              f"defenses {', '.join(chosen)} at ε {', '.join(f'{e:g}' for e in eps)}",
              defenses=chosen, epsilons=eps)
    if jobs.panel("sweep_job", lambda j: render(j, lambda d: defense_view(d, key="sweep"))) is None:
        doc = load_json_upload("…or load a compare-defenses JSON", "sweep_json", ("defenses",))
        if doc:
            defense_view(doc, key="sweep_loaded")

with tab_maps:
    c1, c2 = st.columns([3, 2])
    with c1:
        chosen_m = field_widget("defenses", key_prefix="maps_")
    with c2:
        eps_m = field_widget("epsilon", 5.0, key_prefix="maps_")
    job = jobs.get("maps_job")
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="run_maps",
                 disabled=form.error is not None or not chosen_m or (job is not None and job.running)):
        start_experiment(form, "defense-maps", "maps_job", f"one user under none, {', '.join(chosen_m)} at ε={eps_m:g}",
              defenses=chosen_m, epsilon=eps_m)
    if jobs.panel("maps_job", lambda j: render(j, lambda d: defense_maps_view(
            d, key="dmaps", tiles=form.tiles))) is None:
        st.info("Runs the attack on the same clients with no defense and under each defense, and "
                "shows one user's true and reconstructed trajectory side by side.")
