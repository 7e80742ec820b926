"""The DeepMove-style model (`core.models.deepmove`) and the embedding-row attack
(`core.attacks.embedding`), on a street-grid world the tests build themselves.

- per-client gradients from the one batched backward equal a per-client loop (FedSGD), and
  the model trains through the one round loop under both protocols and both algorithms;
- the embedding gradients' non-zero rows are exactly the locations (and the time slots) each
  client fed in; the time slot changes the output (and the LSTM ignores slots);
- st-gia+ on DeepMove recovers every point of every round (W = 1 history, W = 3 streaming,
  FedSGD), and every input point's time slot; the paper's st-gia runs on it (straight-through lookup) for comparison;
- DP-SGD noise makes every row non-zero and the row recall falls;
- configuration: deepmove needs the classification head; its dashboard caption exists.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from attack_fixtures import grid_network, population_on
from core.attacks import embedding, registry
from core.attacks.embedding import RowAttack, assignments, row_recall
from core.attacks.session import AttackSession
from core.defenses.dpsgd import DPSGDDefense
from core.defenses.location import GeoIDefense
from core.errors import ParameterError
from core.experiments.config import MODEL_REVEALS, RunConfig, all_fields
from core.federated.clients import window_points
from core.federated.defense_hook import DefenseContext
from core.federated.rounds import FedConfig, run_rounds
from core.models.deepmove import embed_indices, forward, head, location_index
from core.data.timeslots import N_SLOTS
from core.models.recurrent import ModelSpec, init_params, per_client_grads
from core.models.recurrent import forward as recurrent_forward

ROUNDS = 5


def _world(n_clients: int = 4, seed: int = 3, n_points: int = ROUNDS + 8):
    """Clients on a street grid; check-ins 20 min to 30 h apart, so time slots vary and repeat."""
    net = grid_network()
    pop = population_on(net, n_clients=n_clients, n_points=n_points, seed=seed)
    rng = np.random.default_rng(seed)
    times = tuple(1_333_000_000 + np.cumsum(rng.integers(1200, 30 * 3600, len(p))) for p in pop.points)
    pop = dataclasses.replace(pop, times=times)
    vocab = np.unique(np.concatenate(pop.points), axis=0)
    spec = ModelSpec("deepmove", 16, "classification", len(vocab),
                     locations=torch.as_tensor(vocab, dtype=torch.float32))
    return net, pop, vocab, spec


def _labels(spec: ModelSpec):
    return lambda y: location_index(y, spec)


def test_batched_grads_equal_a_loop_over_clients():
    _, pop, _, spec = _world()
    params = init_params(spec, torch.Generator().manual_seed(0))
    x, y = pop.windows(np.arange(4), np.arange(3), 2)                    # (4, 3, 2, 2)
    slots = pop.window_slots(np.arange(4), np.arange(3), 2)              # (4, 3, 2)
    lab = location_index(y, spec)
    batched = per_client_grads(params, x, lab, spec, slots=slots)
    assert bool((batched["slot_emb"].norm(dim=-1) > 0).any())
    for k in range(4):
        one = per_client_grads(params, x[k:k + 1], lab[k:k + 1], spec, slots=slots[k:k + 1])
        for n in params:
            torch.testing.assert_close(batched[n][k], one[n][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("protocol,algorithm,window", [
    ("history", "fedsgd", 1), ("history", "fedavg", 1), ("streaming", "fedsgd", 3),
    ("streaming", "fedavg", 2)])
def test_nonzero_rows_are_exactly_the_visited_locations(protocol, algorithm, window):
    _, pop, _, spec = _world()
    cfg = FedConfig(rounds=ROUNDS, window=window, protocol=protocol, algorithm=algorithm,
                    local_steps=2, server_optimizer="adam")
    for rec in run_rounds(pop, spec, cfg, labels=_labels(spec)):
        fed_in = location_index(rec.x_true, spec).reshape(len(rec.clients), -1)   # (K, B·W)
        rows = rec.uploads["loc_emb"].norm(dim=-1) > 0                              # (K, V)
        slot_rows = rec.uploads["slot_emb"].norm(dim=-1) > 0                        # (K, S)
        slots = rec.slots_true.reshape(len(rec.clients), -1)
        for k in range(len(rec.clients)):
            assert set(torch.nonzero(rows[k]).ravel().tolist()) == set(fed_in[k].tolist())
            assert set(torch.nonzero(slot_rows[k]).ravel().tolist()) == set(slots[k].tolist())


def _four_windows():
    """Two clients' first four one-point windows, their slots, and a DeepMove spec and params."""
    _, pop, _, spec = _world()
    params = init_params(spec, torch.Generator().manual_seed(1))
    x, _ = pop.windows(np.arange(2), np.arange(4), 1)
    return params, x, pop.window_slots(np.arange(2), np.arange(4), 1), spec


def test_history_attention_sees_only_earlier_windows():
    params, x, slots, spec = _four_windows()
    out = forward(params, x, spec, slots)
    changed = x.clone()
    changed[:, 3] = x[:, 0]                                           # alter the last window only
    out2 = forward(params, changed, spec, slots)
    torch.testing.assert_close(out[:, :3], out2[:, :3])               # earlier windows unaffected
    assert not torch.allclose(out[:, 3], out2[:, 3])


def test_the_time_slot_changes_the_output_and_the_lstm_ignores_it():
    params, x, slots, spec = _four_windows()
    out = forward(params, x, spec, slots)
    other = slots.clone()
    other[:, 2] = (slots[:, 2] + 1) % N_SLOTS                          # window 2's slot only
    out2 = forward(params, x, spec, other)
    torch.testing.assert_close(out[:, :2], out2[:, :2])               # earlier windows unaffected
    assert not torch.allclose(out[:, 2], out2[:, 2]) and not torch.allclose(out[:, 3], out2[:, 3])
    with pytest.raises(ValueError):
        forward(params, x, spec)                                      # slots are required
    lstm = ModelSpec("lstm", 8, "classification", spec.n_classes, input_scale=20.0)
    p = init_params(lstm, torch.Generator().manual_seed(1))
    assert torch.equal(recurrent_forward(p, x, lstm, slots), recurrent_forward(p, x, lstm))


def test_head_from_a_later_window_equals_the_full_heads_tail():
    _, pop, _, spec = _world()
    params = init_params(spec, torch.Generator().manual_seed(2))
    x, _ = pop.windows(np.arange(3), np.arange(5), 2)
    idx = location_index(x, spec)
    e = embed_indices(params, idx, pop.window_slots(np.arange(3), np.arange(5), 2))
    full = head(params, idx, e, spec)                                  # (3, 5, V)
    for first in (1, 4):
        torch.testing.assert_close(head(params, idx, e, spec, first), full[:, first:])


def _attack(pop, spec, vocab, cfg: FedConfig, name: str = "st-gia+", iters: int = 5,
            defense=None):
    session = AttackSession(registry.get(name), spec, pop.normalizer, pop.n_clients,
                            max(len(p) for p in pop.points), cfg.window, iters, 1, None, vocab)
    out = []
    for rec in run_rounds(pop, spec, cfg, defense, labels=_labels(spec)):
        out.append(session.attack_round(rec))
    return session, out


@pytest.mark.parametrize("protocol,window", [("history", 1), ("history", 2), ("streaming", 3)])
def test_st_gia_plus_reads_every_point_off_the_rows(protocol, window):
    _, pop, vocab, spec = _world()
    cfg = FedConfig(rounds=ROUNDS, window=window, protocol=protocol, server_optimizer="adam")
    session, rounds = _attack(pop, spec, vocab, cfg)
    assert [ra.asr for ra in rounds] == [1.0] * ROUNDS
    assert all(float(np.max(ra.errors_m)) < 1.0 for ra in rounds)     # the exact venues
    assert [e["slot_accuracy"] for e in session.rows.leak] == [1.0] * ROUNDS   # and their times


def test_slots_read_again_a_round_later_stay_right(monkeypatch):
    # no first reading counts as decisive: every slot goes through the re-check once
    monkeypatch.setattr(embedding, "DECISIVE", float("inf"))
    _, pop, vocab, spec = _world()
    cfg = FedConfig(rounds=ROUNDS, window=1, protocol="history", server_optimizer="adam")
    session, rounds = _attack(pop, spec, vocab, cfg)
    assert [ra.asr for ra in rounds] == [1.0] * ROUNDS
    assert [e["slot_accuracy"] for e in session.rows.leak] == [1.0] * ROUNDS
    assert session.rows.slot_final[:, :ROUNDS - 1].all()              # re-checked once, then final
    assert not session.rows.slot_final[:, ROUNDS - 1].any()           # the newest: not yet


def test_alternating_search_when_the_joint_product_is_too_large(monkeypatch):
    # streaming W = 3, round 1: 3 unknown places and 3 unknown slots; no joint search allowed
    monkeypatch.setattr(embedding, "MAX_JOINT", 1)
    calls = []
    search = embedding.RowAttack._search

    def spy(self, rec, members, idx, seq, loc, slot):
        calls.append((len(loc[1]), len(slot[1])))
        return search(self, rec, members, idx, seq, loc, slot)

    monkeypatch.setattr(embedding.RowAttack, "_search", spy)
    _, pop, vocab, spec = _world()
    cfg = FedConfig(rounds=3, window=3, protocol="streaming", server_optimizer="adam")
    session, rounds = _attack(pop, spec, vocab, cfg)
    assert any(a > 1 and s == 1 for a, s in calls)                   # places with a slot guess
    assert [ra.asr for ra in rounds] == [1.0] * 3
    assert [e["slot_accuracy"] for e in session.rows.leak] == [1.0] * 3


def test_paper_st_gia_runs_on_deepmove_for_comparison():
    _, pop, vocab, spec = _world(n_clients=2)
    cfg = FedConfig(rounds=2, window=1, protocol="streaming")
    session, rounds = _attack(pop, spec, vocab, cfg, name="st-gia", iters=3)
    assert session.rows is None and len(rounds) == 2
    assert all(np.isfinite(ra.errors_m).all() for ra in rounds)


def test_assignments_use_every_unexplained_row():
    combos = assignments(3, 3, must_use=3)
    assert len(combos) == 6 and all(sorted(c) == [0, 1, 2] for c in combos.tolist())
    assert assignments(2, 0).shape == (1, 0)


def test_dpsgd_noise_hides_rows_and_the_leak_is_measured():
    _, pop, _, spec = _world()
    cfg = FedConfig(rounds=2, window=1, protocol="history")
    dp = DPSGDDefense(name="dpsgd", epsilon=1.0, scope="round")
    dp.start(DefenseContext(rounds=2, population=pop))
    clean = list(run_rounds(pop, spec, cfg, labels=_labels(spec)))
    noisy = list(run_rounds(pop, spec, cfg, dp, labels=_labels(spec)))
    for rec_c, rec_n in zip(clean, noisy):
        true_idx = location_index(rec_c.x_true, spec).reshape(len(rec_c.clients), -1)
        n = len(np.unique(window_points(rec_c.starts, 1)[:, :1]))
        assert torch.all(row_recall(rec_c.uploads["loc_emb"], true_idx, n) == 1.0)
        assert bool((rec_n.uploads["loc_emb"].norm(dim=-1) > 0).all())   # every row non-zero
        assert bool((rec_n.uploads["slot_emb"].norm(dim=-1) > 0).all())  # the slot table's too
    rec = noisy[-1]
    true_idx = location_index(rec.x_true, spec).reshape(len(rec.clients), -1)
    assert float(row_recall(rec.uploads["loc_emb"], true_idx, 2).mean()) < 1.0


def test_location_mechanisms_leave_the_slots_alone():
    _, pop, _, spec = _world()
    cfg = FedConfig(rounds=2, window=1, protocol="history")
    geoi = GeoIDefense(epsilon=0.5)                                   # km-scale noise on points
    geoi.start(DefenseContext(rounds=2, population=pop))
    for rec in run_rounds(pop, spec, cfg, geoi, labels=_labels(spec)):
        rows = rec.uploads["slot_emb"].norm(dim=-1) > 0
        slots = rec.slots_true.reshape(len(rec.clients), -1)
        for k in range(len(rec.clients)):    # the true slots' rows, whatever the coordinates
            assert set(torch.nonzero(rows[k]).ravel().tolist()) == set(slots[k].tolist())


def test_row_attack_keeps_what_it_found():
    _, pop, vocab, spec = _world()
    cfg = FedConfig(rounds=3, window=1, protocol="history")
    attack = RowAttack(spec, 1, pop.n_clients, max(len(p) for p in pop.points))
    for rec in run_rounds(pop, spec, cfg, labels=_labels(spec)):
        pts, z, new = attack.attack(rec)
        assert new[:, -1].all()                                       # the newest target
        assert not new[:, :-2].any()                                  # earlier points were kept
    truth = np.stack([location_index(torch.as_tensor(p[:4], dtype=torch.float32), spec).numpy()
                      for p in pop.points])
    assert (attack.loc[:, :4] == truth).all()


def test_config_deepmove_needs_the_classification_head():
    with pytest.raises(ParameterError):
        RunConfig.build("paper", model="deepmove")
    cfg = RunConfig.build("realistic", model="deepmove")
    assert cfg.model.model == "deepmove"
    choices = all_fields()["model"].param.allowed()
    assert set(dict(MODEL_REVEALS)) == set(choices)


def test_realistic_run_on_the_demo_reports_utility_and_every_round_attacked():
    from core.experiments.runner import run
    from core.experiments.setup import prepare

    prep = prepare(RunConfig.build("realistic", model="deepmove", dataset="demo", clients=6,
                                   rounds=3))
    res = run(prep, {"st-gia+": registry.get("st-gia+")})
    assert [ra.asr for ra in res.attacks["st-gia+"]] == [1.0, 1.0, 1.0]
    assert 0.0 <= res.utility[-1]["recall_at_5"] <= 1.0
    assert set(res.baselines) == {"persistence", "user_top5", "global_top5", "transition"}
