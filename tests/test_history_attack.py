"""The history protocol under attack (DESIGN.md §3 "History protocol").

- st-gia+ subtracts the gradients of the windows it already reconstructed and inverts the
  residual as the newest window: with W = 1 every new target comes out exactly (regression in
  closed form, classification from the output-bias sign), and the online ASR stays ≥ 0.8 in
  every round, undefended;
- the round's attacked points are the distinct points of all windows of the upload;
- the paper's st-gia inverts the whole upload with B_t dummy windows;
- on the streaming protocol with B = 1 the subtraction is a no-op.
"""
from dataclasses import replace

import numpy as np
import torch

from attack_fixtures import grid_network, population_on
from core.attacks import registry
from core.attacks.mapping import Mapper
from core.attacks.session import AttackSession, collapse_points
from core.federated.rounds import FedConfig, run_rounds
from core.models.recurrent import ModelSpec

ROUNDS = 5


def _world(n_clients: int = 4, seed: int = 2):
    net = grid_network()
    pop = population_on(net, n_clients=n_clients, n_points=ROUNDS + 3, seed=seed)
    vocab = np.unique(np.concatenate(pop.points), axis=0)           # normalised classes
    return net, pop, vocab


def _labels(vocab: np.ndarray):
    v = torch.as_tensor(vocab, dtype=torch.float32)
    return lambda y: torch.cdist(y.reshape(-1, 2), v).argmin(1).view(y.shape[:-1])


def _attack(name, pop, net, model, cfg, vocab=None, labels=None, iters=100, seed=0, check=None):
    """Attack every round; `check(sess, rec, ra)` sees the session right after each round."""
    sess = AttackSession(registry.get(name), model, pop.normalizer, pop.n_clients,
                         max(len(p) for p in pop.points), cfg.window, iters, seed,
                         Mapper(pop.normalizer, net, None), vocab)
    recs, rounds = [], []
    for rec in run_rounds(pop, model, cfg, labels=labels):
        recs.append(rec)
        rounds.append(sess.attack_round(rec))
        if check is not None:
            check(sess, rec, rounds[-1])
    return sess, recs, rounds


def _check_history_targets_exact(model, vocab=None, labels=None, window=1, iters=300):
    """Round 1 is an ordinary single-window attack (its window point comes out within float
    precision at this budget); every later target comes from the residual in closed form."""
    net, pop, _ = _world()
    cfg = FedConfig(rounds=ROUNDS, window=window, protocol="history", server_optimizer="adam")
    sess, recs, rounds = _attack("st-gia+", pop, net, model, cfg, vocab, labels, iters=iters)
    for rec, ra in zip(recs, rounds):
        B = len(rec.starts)
        assert B == rec.round
        # every distinct point of the B windows is attacked: 0 .. B−1+W
        assert ra.point_idx.tolist() == list(range(B + window))
        assert ra.errors_m.shape == (pop.n_clients, B + window)
        # the newest target (point B−1+W) comes out exactly, from the residual alone
        newest = np.stack([pop.latlon[c][B - 1 + window] for c in rec.clients])
        assert np.abs(ra.est_latlon[:, -1] - newest).max() < 1e-4, rec.round
        assert ra.asr >= 0.8, (rec.round, ra.errors_m)
    # every target the attacker holds is exact (normalised units; 1e-4 ≈ 0.2 m here)
    for c in range(pop.n_clients):
        tgt = np.arange(window, ROUNDS + window)
        assert np.allclose(sess.known[c, tgt], pop.points[c][tgt], atol=1e-4)
    return rounds


def test_st_gia_plus_recovers_every_history_target_regression():
    rounds = _check_history_targets_exact(ModelSpec(hidden=16, input_scale=20.0))
    for ra in rounds[1:]:  # the window point is last round's exact target: nothing to optimise
        assert (ra.first_hit[:, 1:] == 0).all()


def test_st_gia_plus_recovers_every_history_target_classification():
    _, _, vocab = _world()
    model = ModelSpec(hidden=16, head="classification", n_classes=len(vocab), input_scale=20.0)
    _check_history_targets_exact(model, vocab, _labels(vocab))


def test_st_gia_plus_history_window_two_classification():
    # W = 2: the first W points are never a target, so they stay approximate; the classes'
    # sign rule absorbs their error (with the regression head it grows as the model trains)
    _, _, vocab = _world()
    model = ModelSpec(hidden=16, head="classification", n_classes=len(vocab), input_scale=20.0)
    _check_history_targets_exact(model, vocab, _labels(vocab), window=2)


def test_paper_st_gia_inverts_the_whole_history_upload():
    net, pop, _ = _world(n_clients=2)
    model = ModelSpec(hidden=8)
    cfg = FedConfig(rounds=3, window=1, protocol="history")
    assert not registry.get("st-gia").subtract_known

    def check(sess, rec, ra):
        assert ra.point_idx.tolist() == list(range(rec.round + 1))
        assert np.isfinite(ra.raw_latlon).all()
        # B_t dummy windows were optimised: the kept reconstruction has one row per window
        assert sess.prev[0][2].shape == (rec.round, 2, 2)
    _attack("st-gia", pop, net, model, cfg, iters=10, check=check)


def test_subtraction_is_a_no_op_on_streaming_single_windows():
    net, pop, _ = _world(n_clients=3)
    model = ModelSpec(hidden=8)
    cfg = FedConfig(rounds=3, window=1)
    plus = registry.get("st-gia+")
    a = _attack("st-gia+", pop, net, model, cfg, iters=20)[2]
    sess = AttackSession(replace(plus, subtract_known=False), model, pop.normalizer, pop.n_clients,
                         12, 1, 20, 0, Mapper(pop.normalizer, net, None))
    b = [sess.attack_round(r) for r in run_rounds(pop, model, cfg)]
    for ra, rb in zip(a, b):
        assert np.array_equal(ra.raw_latlon, rb.raw_latlon)
        assert np.array_equal(ra.est_latlon, rb.est_latlon)


def test_history_with_client_sampling_inverts_the_missed_windows_together():
    net, pop, _ = _world(n_clients=5)
    model = ModelSpec(hidden=8, input_scale=20.0)
    cfg = FedConfig(rounds=4, window=1, protocol="history", clients_per_round=3, seed=1)

    def check(sess, rec, ra):
        assert ra.errors_m.shape == (3, rec.round + 1)
        assert np.isfinite(ra.errors_m).all()
        assert (sess.done[rec.clients] == rec.round).all()  # every window of the upload is kept
    recs = _attack("st-gia+", pop, net, model, cfg, iters=10, check=check)[1]
    # some client missed a round, so some upload had two windows the attacker had not seen
    assert any(not set(recs[i].clients) <= set(recs[i - 1].clients) for i in range(1, len(recs)))


def test_collapse_points_averages_duplicates_and_keeps_the_earliest_hit():
    idx = np.array([[0, 1], [1, 2]])
    z = np.arange(8, dtype=float).reshape(1, 2, 2, 2)
    first = np.array([[[3, -1], [5, -1]]])
    pts, zc, fc = collapse_points(idx, z, first)
    assert pts.tolist() == [0, 1, 2]
    assert np.allclose(zc[0], [[0, 1], [3, 4], [6, 7]])
    assert fc.tolist() == [[3, 5, -1]]
