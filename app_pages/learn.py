"""Learn: one gradient inversion step by step, what ε means in metres, what mapping and
calibration add, why embedding models leak. Everything here runs on the embedded demo city."""
import streamlit as st

from core.viz import figures, maps
from ui.nav import link
from ui.learn import (ait_sentence, calibration_reading, calibration_trace, embedding_rows,
                      first_and_settled, inversion_trace)
from ui.results import demo_roads, show_map

QP = "query-params"

st.title("Learn: how a server finds a location in a gradient")

st.header("1 · One gradient inversion, iteration by iteration")
st.markdown(
    "A phone uploads the gradient of the model's error on its window (one location) and the next "
    "location. The server does not see either. It starts from a **random guess** (a *dummy*), "
    "computes the gradient the dummy *would* produce, and moves the dummy to make the two "
    "gradients match: `x′ ← x′ − η ∇ₓ′ ‖∇w′ − ∇w‖²`. With **mapping**, each step ends by snapping "
    "the dummy onto the nearest road. Below: a single resident of the demo city, the first round "
    "(random global model), like the paper's Fig. 3.")
c1, c2, c3 = st.columns(3)
seed = c1.number_input("Random start (seed)", 0, 999, 0, key="learn_seed", bind=QP,
                       help="another seed: another resident's gradient and another starting guess")
iters = c2.number_input("Iterations", 10, 400, 100, step=10, key="learn_iters", bind=QP)
mapping = c3.checkbox("Mapping onto roads", True, key="learn_mapping", bind=QP)
with st.spinner("Inverting one gradient…"):
    trace = inversion_trace(int(seed), int(iters), bool(mapping))
n = len(trace["path"]) - 1
step = st.slider("Show the dummy after iteration", 0, n, n, key="learn_step")
err = trace["error_m"]
m1, m2, m3 = st.columns(3)
m1.metric("Start: distance to the truth", f"{err[0]:,.0f} m",
          help="distance between the random first guess and the true location; lower = the "
               "attacker is closer")
m2.metric(f"After {step} iterations", f"{err[step]:,.0f} m",
          delta=f"{err[step] - err[0]:,.0f} m", delta_color="inverse",
          help="distance between the dummy and the true location after this iteration; lower = "
               "the attacker is closer")
first, ait = first_and_settled(err, 500.0)
m3.metric("AIT: iterations to a successful attack", "never" if ait is None else str(ait),
          help="the paper's attack iteration (AIT): how many iterations the attack needs for a "
               "successful reconstruction, here the first iteration from which the dummy stays "
               "within 500 m until the end; lower = cheaper attack. 'never': the last iterate is "
               "500 m or more away")
st.caption(ait_sentence(err, first, ait, 500.0))
col_map, col_fig = st.columns([1, 1])
with col_map:
    show_map(maps.inversion_map([trace["true"][0]], trace["path"][: step + 1], demo_roads()),
             key="learn_map", height=420)
    st.caption(f"Blue: the true location of user {trace['user_id']} · red: the dummy's path "
               "(big ring: the random start).")
with col_fig:
    st.plotly_chart(figures.inversion_trace_figure(err, trace["loss"]), key="learn_trace")

st.header("2 · What ε means in metres")
st.markdown(
    "Location defenses (Geo-indistinguishability) report a noisy location instead of the true "
    "one. With budget **ε per km**, planar Laplace noise moves a point by **2/ε km on average**. "
    "The budget is for the **whole run**: spread uniformly over T rounds, each round gets ε/T, "
    "so each round's noise is T times larger.")
c1, c2 = st.columns(2)
eps = c1.select_slider("Total ε per user (per km)", [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
                       value=10.0, key="learn_eps", bind=QP)
T = c2.number_input("Rounds T", 1, 200, 20, key="learn_T", bind=QP)
eps_t = float(eps) / int(T)
k1, k2 = st.columns(2)
k1.metric("Mean displacement if one round spent all of ε", f"{2000 / float(eps):,.0f} m",
          help="average distance planar Laplace noise moves a reported location at this ε "
               "(2/ε km); larger = more private, less useful")
k2.metric(f"Per round with ε/T = {eps_t:.3g}", f"{2000 / eps_t:,.0f} m",
          help="the same when the run's ε is split evenly over T rounds; larger = more private")
st.plotly_chart(figures.laplace_figure(eps_t), key="learn_laplace")
st.caption("The attack's success radius is 500 m: noise well beyond that hides locations, but "
           "also blurs what the model can learn. The paper's adaptive defense gives a riskier "
           "round a smaller share: round t gets e^(−γₜ) of the budget still left, where γₜ grows "
           "with the attack's success in that round. Because round 1 takes its share of the "
           "whole budget, it can still get the largest ε of any round when ε is for the whole "
           "run — the allocation chart on Defense trade-offs shows what a run really spent. With "
           "ε per round (T·ε shared) and in the lab's proportional variant, riskier rounds get "
           "less than the average.")

st.header("3 · What mapping and calibration add")
st.markdown(
    "**Mapping** (above: tick it off and compare) puts a guess that lands off the streets onto "
    "the nearest road, where people actually are (within 50 m of a road it already is; more than "
    "200 m from every road it is outside the road data and stays). **Calibration**: with a window "
    "of W points, each location is in W + 1 uploads (as input, then as target). The paper "
    "averages the recoveries (Eq. 9, shown below), so one bad round is diluted by the good ones "
    "but also drags them; the default ST-GIA keeps, per location, the recovery whose gradient "
    "matched its upload best and lets only a round whose gradient was matched replace it, so a "
    "failed round cannot pull a good answer away.")
if st.button("Show calibration on one point", key="learn_calib", icon=":material/play_arrow:") \
        or st.session_state.get("learn_calib_shown"):
    st.session_state["learn_calib_shown"] = True
    with st.spinner("Running 3 clients for 4 rounds…"):
        cal = calibration_trace(0, 2, 4, 100)
    st.plotly_chart(figures.calibration_figure(cal["rows"]), key="learn_cal_fig")
    st.caption(f"Point {cal['point']} of user {cal['user_id']}, window 2: seen in rounds "
               + ", ".join(str(r["round"]) for r in cal["rows"]) + ". "
               + calibration_reading(cal["rows"]))
link("app_pages/attack_comparison.py", "The full ablation (paper Fig. 4)", ":material/bar_chart:")

st.header("4 · Why embeddings leak")
st.markdown(
    "Real next-location models (DeepMove, Feng et al. 2018) do not read coordinates: they look "
    "each place up in a table of **embeddings**, one row per known place. The gradient of that "
    "table is zero in every row the phone did not use, so the upload **names the visited places "
    "outright** — no optimisation, under FedSGD and FedAvg alike. The output layer's bias "
    "gradient is negative at the place the phone trained to predict, so the server reads the "
    "next place too. Below: one demo resident's upload (history protocol: all its windows so "
    "far), with the rows that are non-zero drawn where their places are.")
c1, c2 = st.columns(2)
emb_round = c1.slider("Round", 1, 12, 4, key="learn_emb_round", bind=QP,
                      help="round t: the client trains on its t windows so far")
emb_client = c2.number_input("Resident", 0, 2, 0, key="learn_emb_client", bind=QP)
with st.spinner("Training the demo federation…"):
    leak = embedding_rows(int(emb_round), int(emb_client))
k1, k2, k3 = st.columns(3)
k1.metric("Rows in the table", f"{leak['vocab_size']:,}")
k2.metric("Non-zero rows in this upload", str(len(leak["rows"])))
k3.metric("Distinct places the client fed in", str(len(leak["true"])))
show_map(maps.embedding_rows_map(leak["rows"], leak["norms"], leak["true"], leak["target"],
                                 demo_roads()), key="learn_emb_map", height=420)
st.caption(f"User {leak['user_id']}, {leak['windows']} window(s). Red: non-zero embedding rows "
           "(bigger: larger gradient) · blue rings: the places in its windows · orange: the next "
           "place read off the output bias. Client-side DP-SGD noise makes every row non-zero; "
           "the Defenses page measures what is left.")
