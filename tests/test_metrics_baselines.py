"""The four utility baselines (core.metrics.baselines, DESIGN.md §4) on a hand-built fixture.

Vocabulary: 12 venues on a north-south line, 0.001° (~111 m) apart, location i = row i, so
"nearest" is |i - j| and every persistence ranking below is worked out by hand.

Client 0 trains on 0 1 2 1 3 1 2 1 4; client 1 on 9 1 5 1 6 1 7 10. By hand:
- user_top5: client 0 counts 1:4 2:2 0,3,4:1 -> [1 2 0 3 4]; client 1 counts 1:3, then
  5 6 7 9 10 once each -> [1 5 6 7 9] (10 loses the tie on index);
- global_top5: 1:7 2:2 then 0 3 4 5 6 7 9 10 once each -> [1 2 0 3 4];
- transition (consecutive points within a client, pooled): from 1 -> 2 twice, then 3 4 5 6 7
  once each -> [2 3 4 5 6] (7 loses the tie); from 2 -> only 1, then persistence of 2
  [2 1 3 0 4] without the repeated 1 -> [1 2 3 0 4]; from 4 and 10 -> nothing (each is a
  client's last point; 4 -> 9 across clients is not a transition) -> persistence.
"""
from __future__ import annotations

import numpy as np
import pytest

from core.geo.distance import LocalProjection, haversine
from core.metrics.baselines import (BASELINES, baseline_candidates, baselines, top_by_group,
                                    transition_pairs)

VOCAB = np.array([[40.700 + 0.001 * i, -74.0] for i in range(12)])
TRAIN = [np.array([0, 1, 2, 1, 3, 1, 2, 1, 4]), np.array([9, 1, 5, 1, 6, 1, 7, 10])]
# held-out windows: (client, current, next)
HELD = np.array([[0, 1, 7],    # 7 is 6th everywhere by tie-breaking: a miss for all
                 [0, 2, 3],
                 [1, 10, 8],
                 [1, 1, 2],
                 [0, 4, 9],    # hit only if 4 -> 9 were counted across clients
                 [1, 6, 1]])
EXPECTED_TOP = {
    "persistence": [[1, 0, 2, 3, 4], [2, 1, 3, 0, 4], [10, 9, 11, 8, 7],
                    [1, 0, 2, 3, 4], [4, 3, 5, 2, 6], [6, 5, 7, 4, 8]],
    "user_top5": [[1, 2, 0, 3, 4], [1, 2, 0, 3, 4], [1, 5, 6, 7, 9],
                  [1, 5, 6, 7, 9], [1, 2, 0, 3, 4], [1, 5, 6, 7, 9]],
    "global_top5": [[1, 2, 0, 3, 4]] * 6,
    "transition": [[2, 3, 4, 5, 6], [1, 2, 3, 0, 4], [10, 9, 11, 8, 7],
                   [2, 3, 4, 5, 6], [4, 3, 5, 2, 6], [1, 6, 5, 7, 4]],
}
# hits per window (truth in top 5 / first): persistence w1 w2 w3; user w1 w5 (first: w5);
# global w1 w3 w5 (first: w5); transition w1 w2 w3 w5 (first: w3 w5)
EXPECTED = {"persistence": (3 / 6, 0.0), "user_top5": (2 / 6, 1 / 6),
            "global_top5": (3 / 6, 1 / 6), "transition": (4 / 6, 2 / 6)}


def _inputs(train=TRAIN, held=HELD):
    return ([VOCAB[t] for t in train], held[:, 0], VOCAB[held[:, 1]], VOCAB[held[:, 2]], VOCAB)


def _recall(result: dict, name: str) -> float:
    return result[name]["recall_at_5"]


def test_candidates_match_the_hand_ranking_with_ties_on_index():
    # Prepare
    train, client, current, _, vocab = _inputs()
    # Execute
    tops = baseline_candidates(train, client, current, vocab)
    # Assert
    assert set(tops) == set(BASELINES)
    for name, want in EXPECTED_TOP.items():
        np.testing.assert_array_equal(tops[name], want, err_msg=name)


def test_recall_and_acc_at_1_match_the_hand_count():
    # Execute
    res = baselines(*_inputs())
    # Assert
    for name, (r5, a1) in EXPECTED.items():
        assert res[name]["recall_at_5"] == pytest.approx(r5), name
        assert res[name]["acc_at_1"] == pytest.approx(a1), name


def test_median_error_is_from_the_first_candidate_in_metres():
    # Prepare: persistence's first candidate is the current location itself
    train, client, current, nxt, vocab = _inputs()
    step = haversine(current[:, 0], current[:, 1], nxt[:, 0], nxt[:, 1])
    # Execute
    res = baselines(train, client, current, nxt, vocab)
    # Assert: 1, 1, 2, 5, 5, 6 steps of ~111 m -> median 3.5 steps
    assert res["persistence"]["median_error_m"] == pytest.approx(np.median(step))
    assert res["persistence"]["median_error_m"] == pytest.approx(3.5 * 111.2, rel=1e-3)


def test_transition_falls_back_to_persistence_without_repeating_a_successor():
    # Prepare: 3's only successor is 1; 11 never occurs in training
    train = [VOCAB[[3, 1, 5]]]
    # Execute
    tops = baseline_candidates(train, np.array([0, 0]), VOCAB[[3, 11]], VOCAB)
    # Assert: successors first, then persistence of 3 = [3 2 4 1 5] minus 1; 11 -> persistence
    np.testing.assert_array_equal(tops["transition"], [[1, 3, 2, 4, 5], [11, 10, 9, 8, 7]])


def test_user_top5_with_fewer_distinct_locations_leaves_empty_slots_that_never_hit():
    # Prepare: client 0 visited only 2 and 3
    train = [VOCAB[[2, 3, 2]]]
    # Execute
    tops = baseline_candidates(train, np.array([0]), VOCAB[[3]], VOCAB)
    res = baselines(train, np.array([0]), VOCAB[[3]], VOCAB[[3]], VOCAB)
    # Assert
    np.testing.assert_array_equal(tops["user_top5"], [[2, 3, -1, -1, -1]])
    assert res["user_top5"]["recall_at_5"] == 1.0 and res["user_top5"]["acc_at_1"] == 0.0


def test_counting_held_out_windows_in_the_tables_would_be_caught():
    # Prepare: a deliberately wrong evaluation that lets each held-out pair (current -> next)
    # into the client's training points, i.e. the transition table and user counts see the test
    train = [t.copy() for t in TRAIN]
    for c, cur, nxt in HELD:
        train[c] = np.r_[train[c], cur, nxt]
    # Execute
    honest = baselines(*_inputs())
    leaky = baselines(*_inputs(train=train))
    # Assert: the fixture tells them apart, and the honest figures are the hand-counted ones
    assert _recall(honest, "transition") == pytest.approx(4 / 6)
    assert _recall(leaky, "transition") > _recall(honest, "transition")
    assert _recall(leaky, "user_top5") > _recall(honest, "user_top5")


def test_predicting_the_target_itself_would_be_caught():
    # Prepare: a wrong baseline that ranks the held-out target first scores 1.0; none may
    train, client, current, nxt, vocab = _inputs()
    # Execute
    res = baselines(train, client, current, nxt, vocab)
    # Assert
    assert all(res[name]["recall_at_5"] < 1.0 for name in BASELINES)


def test_transitions_do_not_cross_clients():
    # Execute
    cur, nxt = transition_pairs([np.array([0, 1]), np.array([2, 3])])
    # Assert: 1 -> 2 (client 0's last point to client 1's first) is not a transition
    assert sorted(zip(cur.tolist(), nxt.tolist())) == [(0, 1), (2, 3)]


def test_top_by_group_orders_by_count_then_index():
    # Prepare: group 0 sees 5,5,2,9,2,7 ; group 2 sees 4 ; group 1 nothing
    group = np.array([0, 0, 0, 0, 0, 0, 2])
    item = np.array([5, 5, 2, 9, 2, 7, 4])
    # Execute
    top = top_by_group(group, item, n_groups=3, k=3)
    # Assert
    np.testing.assert_array_equal(top, [[2, 5, 7], [-1, -1, -1], [4, -1, -1]])


def test_persistence_breaks_a_tie_across_the_kth_place_by_index():
    # Prepare: a centre and four venues 100 m N, E, S, W of it, listed in a scrambled order
    proj = LocalProjection(40.75, -73.98)
    xy = np.array([[0, 100], [100, 0], [0, 0], [-100, 0], [0, -100]], dtype=float)  # N E C W S
    lat, lon = proj.to_latlon(xy[:, 0], xy[:, 1])
    vocab = np.stack([lat, lon], axis=1)
    # Execute: k = 3 keeps the centre and two of the four tied neighbours
    tops = baseline_candidates([vocab], np.array([0]), vocab[[2]], vocab, k=3)
    # Assert: centre first, then the two smallest indices among the tied (0 = N, 1 = E)
    np.testing.assert_array_equal(tops["persistence"], [[2, 0, 1]])


def test_no_held_out_windows_gives_nan():
    # Execute
    res = baselines([VOCAB[[0, 1]]], np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 2)), VOCAB)
    # Assert
    assert all(np.isnan(v["recall_at_5"]) for v in res.values())
