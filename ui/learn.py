"""Computations for the Learn page, on the demo city only (no user data, so `st.cache_data` is
allowed): one gradient inversion followed iteration by iteration (the paper's Fig. 3), and one
point's recoveries over rounds before and after calibration (Eq. 9)."""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st


@st.cache_data(show_spinner=False, max_entries=32)
def inversion_trace(seed: int, iters: int, mapping: bool, lr: float = 0.3,
                    client: int = 0) -> dict:
    """A 1-client, 1-round problem on the demo city; the dummy window point after each iteration.

    Returns lists (JSON-able): `path` (iters+1, 2) lat/lon of the dummy input point, `target_path`
    (the dummy label), `true` [[lat, lon] input, [lat, lon] target], `error_m`, `loss`.
    """
    import torch

    from core.attacks import registry
    from core.attacks.distances import DISTANCES
    from core.attacks.engine import Problem, invert
    from core.experiments.config import RunConfig
    from core.experiments.runner import class_labels
    from core.experiments.setup import prepare
    from core.federated.rounds import run_rounds
    from core.geo.distance import haversine
    from core.models.recurrent import per_client_grads

    cfg = RunConfig.build(dataset="demo", clients=max(client + 1, 1), rounds=1, window=1, iters=iters,
                    seed=seed)
    prep = prepare(cfg)
    rec = next(iter(run_rounds(prep.population, prep.model, prep.fed, None, class_labels(prep))))
    k = client
    params = rec.params
    target = {n: u[k:k + 1] for n, u in rec.uploads.items()}
    spec = dataclasses.replace(registry.get("st-gia"), mapping=mapping, lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    x0 = torch.randn(1, 1, 1, 2, generator=gen)
    y0 = torch.randn(1, 1, prep.model.n_out, generator=gen)
    prob = Problem(params, target, x0, y0, torch.zeros(1, 1, 1, dtype=torch.bool), False)
    distance = DISTANCES[spec.distance]
    xs, ys, losses = [x0[0, 0, 0].numpy().copy()], [y0[0, 0, :2].numpy().copy()], []

    def loss_of(x, y) -> float:
        with torch.enable_grad():
            g = per_client_grads(params, x.detach(), y.detach(), prep.model)
        return float(distance(g, target)[0])

    losses.append(loss_of(x0, y0))

    def monitor(i, x, y, rows) -> None:  # one row: `rows` is all of it
        xs.append(x[0, 0, 0].detach().numpy().copy())
        ys.append(y[0, 0, :2].detach().numpy().copy())
        losses.append(loss_of(x, y))

    invert(spec, prep.model, prob, iters, prep.mapper() if mapping else None, monitor)
    norm = prep.normalizer
    path = norm.denormalize(np.asarray(xs, dtype=np.float64))
    tpath = norm.denormalize(np.asarray(ys, dtype=np.float64))
    true_x = norm.denormalize(rec.x_true[k, 0, 0].numpy().astype(np.float64)[None])[0]
    true_y = norm.denormalize(rec.y_true[k, 0].numpy().astype(np.float64)[None])[0]
    err = haversine(path[:, 0], path[:, 1], true_x[0], true_x[1])
    return {"path": path.tolist(), "target_path": tpath.tolist(),
            "true": [true_x.tolist(), true_y.tolist()], "error_m": err.tolist(), "loss": losses,
            "user_id": prep.population.user_ids[k]}


@st.cache_data(show_spinner=False, max_entries=8)
def calibration_trace(seed: int = 0, window: int = 3, rounds: int = 6, iters: int = 60) -> dict:
    """Recoveries of one trajectory point over the rounds that see it: raw error per round and
    the error of the calibrated estimate (mean of the recoveries so far, Eq. 9)."""
    from core.attacks import registry
    from core.experiments import runner
    from core.experiments.config import RunConfig
    from core.experiments.setup import prepare
    from core.metrics.attack import errors_m

    cfg = RunConfig.build(dataset="demo", clients=3, rounds=rounds, window=window, iters=iters, seed=seed)
    prep = prepare(cfg)
    spec = registry.get("st-gia").with_calibration("mean")   # the paper's Eq. 9, as shown
    res = runner.run(prep, {"st-gia": spec})
    point = window  # the first target point: seen as target in round 1, then in W windows
    rows = []
    for ra in res.attacks["st-gia"]:
        j = np.flatnonzero(ra.point_idx == point)
        if not len(j):
            continue
        j = int(j[0])
        raw = errors_m(ra.raw_latlon[0, j], ra.true_latlon[0, j])
        rows.append({"round": ra.round, "raw_error_m": float(raw),
                     "calibrated_error_m": float(ra.errors_m[0, j])})
    return {"point": point, "rows": rows, "user_id": prep.population.user_ids[0]}


def first_and_settled(error_m, threshold_m: float = 500.0) -> tuple[int | None, int | None]:
    """(first iteration within the threshold, first iteration from which the dummy stays
    within it to the end — the paper's AIT for a successful attack; None: never)."""
    e = [float(x) for x in error_m]
    first = next((i for i, x in enumerate(e) if x < threshold_m), None)
    if not e or e[-1] >= threshold_m:
        return first, None
    settled = len(e) - 1
    while settled > 0 and e[settled - 1] < threshold_m:
        settled -= 1
    return first, settled


def ait_sentence(error_m, first: int | None, settled: int | None, threshold_m: float = 500.0) -> str:
    """Whether the dummy's first hit stays, in words."""
    t = f"{threshold_m:,.0f} m"
    if first is None:
        return f"The dummy never came within {t}: the attack failed on this point."
    if settled is None:
        return (f"The dummy first came within {t} at iteration {first} but did not stay: it ends "
                f"{float(error_m[-1]):,.0f} m away, so the attack failed on this point.")
    if settled == first:
        return f"The dummy came within {t} at iteration {first} and stayed there."
    worst = max(float(x) for x in error_m[first:settled])
    return (f"The dummy first came within {t} at iteration {first}, left again (up to "
            f"{worst:,.0f} m) and stays within {t} from iteration {settled} on.")


def calibration_reading(rows: list[dict]) -> str:
    """What the calibration chart shows, from its numbers: the calibrated estimate against each
    round's own recovery, including when both get worse as the model trains."""
    if not rows:
        return "No round saw this point twice."
    last = rows[-1]
    raw, cal = last["raw_error_m"], last["calibrated_error_m"]
    best = min(r["raw_error_m"] for r in rows)
    text = (f"In round {last['round']} this round's own recovery is {raw:,.0f} m off; the "
            f"average of all recoveries so far is {cal:,.0f} m off")
    if cal < raw:
        text += ", so averaging kept most of the earlier, better answers"
    if rows[0]["raw_error_m"] < raw:
        text += (". Here the later rounds' recoveries are worse than the first, so the calibrated "
                 f"error grows too: averaging stays above the best single recovery "
                 f"({best:,.0f} m), which averaging cannot single out (the default st-gia keeps "
                 "the recovery that best matched its upload instead)")
    return text + "."


@st.cache_data(show_spinner=False, max_entries=16)
def embedding_rows(round_t: int = 5, client: int = 0, seed: int = 0) -> dict:
    """One client's DeepMove upload in round `round_t` on the demo city (history protocol): the
    locations of its non-zero embedding-gradient rows and their norms, the places it fed in, and
    the next place the server reads off the output bias (`core.attacks.embedding.RowAttack`,
    which has followed the client since round 1)."""
    import torch

    from core.attacks.embedding import RowAttack
    from core.experiments.config import RunConfig
    from core.experiments.runner import class_labels
    from core.experiments.setup import prepare
    from core.federated.clients import window_points
    from core.federated.rounds import run_rounds

    cfg = RunConfig.build("realistic", model="deepmove", dataset="demo", clients=max(3, client + 1),
                          rounds=round_t, seed=seed)
    prep = prepare(cfg)
    rows_attack = RowAttack(prep.model, prep.fed.window, prep.population.n_clients, prep.n_points)
    rec = None
    for rec in run_rounds(prep.population, prep.model, prep.fed, None, class_labels(prep)):
        rows_attack.attack(rec)
    grad = rec.uploads["loc_emb"][client]                       # (V, D)
    norms = grad.norm(dim=-1)
    rows = torch.nonzero(norms > 0).ravel().numpy()
    fed_in = prep.normalizer.denormalize(rec.x_true[client].reshape(-1, 2).numpy().astype(np.float64))
    target = int(rows_attack.loc[client, int(window_points(rec.starts, prep.fed.window)[-1, -1])])
    return {"rows": prep.vocab[rows].tolist(), "norms": norms[rows].tolist(),
            "true": np.unique(fed_in, axis=0).tolist(), "vocab_size": int(len(prep.vocab)),
            "target": prep.vocab[target].tolist(),
            "true_target": prep.normalizer.denormalize(
                rec.y_true[client, -1].numpy().astype(np.float64)[None])[0].tolist(),
            "user_id": prep.population.user_ids[client], "windows": int(len(rec.starts))}
