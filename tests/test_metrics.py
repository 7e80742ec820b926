"""ASR, AIT and recall@k on hand-made values."""
import numpy as np
import pytest

from core.geo.distance import LocalProjection, haversine
from core.metrics.attack import ait_summary, asr, errors_m
from core.metrics.utility import (VocabIndex, hit_rates, prediction_metrics, recall_at_k,
                                  recall_at_k_logits)

# 10 venues on a north-south line, 0.001° (~111 m) apart; location i = row i
LINE = np.array([[40.0 + 0.001 * i, -74.0] for i in range(10)])


def test_asr_counts_points_strictly_within_threshold():
    assert asr(np.array([0.0, 499.9, 500.0, 2000.0])) == 0.5
    assert asr(np.array([10.0, 90.0]), threshold_m=50) == 0.5


def test_error_is_haversine_metres():
    e = errors_m(np.array([[40.0, -74.0]]), np.array([[41.0, -74.0]]))
    assert abs(e[0] - 111_195) < 50


def test_ait_caps_failures_and_reports_successes():
    s = ait_summary(np.array([3, -1, 5, -1]), cap=200)
    assert s == {"ait": (3 + 200 + 5 + 200) / 4, "ait_success": 4.0, "n_success": 2}


def test_recall_at_k_ranks_vocabulary_by_distance():
    vocab = np.array([[40.0 + 0.01 * i, -74.0] for i in range(10)])
    pred = np.array([[40.0, -74.0], [40.0, -74.0]])
    true = np.array([[40.04, -74.0], [40.05, -74.0]])  # 5th and 6th nearest to the prediction
    assert recall_at_k(pred, true, vocab, k=5) == 0.5
    logits = np.array([[0.1, 0.9, 0.5], [0.8, 0.1, 0.3]])
    assert recall_at_k_logits(logits, np.array([2, 1]), k=2) == 0.5


def test_regression_metrics_rank_by_distance_and_break_ties_on_index():
    # Prepare: pred 0 sits 10 m north of venue 3 (truth 3); pred 1 exactly midway between
    # venues 2 and 3 (truth 3: the tie goes to 2, so a recall hit but not an acc@1 hit);
    # pred 2 on venue 0, truth 7 (8th nearest: a miss)
    pred = np.array([[LINE[3, 0] + 10 / 111_195, -74.0], LINE[2:4].mean(axis=0), LINE[0]])
    true = LINE[[3, 3, 7]]
    err = haversine(pred[:, 0], pred[:, 1], true[:, 0], true[:, 1])
    # Execute
    m = prediction_metrics(true, LINE, pred_latlon=pred)
    # Assert
    assert m["recall_at_5"] == pytest.approx(2 / 3)
    assert m["acc_at_1"] == pytest.approx(1 / 3)
    assert m["median_error_m"] == pytest.approx(np.median(err))
    assert m["median_error_m"] == pytest.approx(55.6, abs=0.1)  # the midway prediction


def test_classification_metrics_rank_by_logit_and_measure_error_from_the_argmax_venue():
    # Prepare: row 0 ties classes 1 and 2 (argmax -> 1), truth 2; row 1 argmax 5 = truth
    logits = np.zeros((2, 10))
    logits[0, [1, 2]] = 1.0
    logits[1, 5] = 3.0
    true = LINE[[2, 5]]
    # Execute
    m = prediction_metrics(true, LINE, logits=logits, k=2)
    # Assert: both within the top 2; only row 1 first; errors 111 m and 0 m
    assert m == pytest.approx({"recall_at_2": 1.0, "acc_at_1": 0.5,
                               "median_error_m": 0.5 * haversine(*LINE[1], *LINE[2])})


def test_prediction_metrics_needs_exactly_one_head_and_handles_no_windows():
    with pytest.raises(ValueError):
        prediction_metrics(LINE[:1], LINE)
    with pytest.raises(ValueError):
        prediction_metrics(LINE[:1], LINE, pred_latlon=LINE[:1], logits=np.zeros((1, 10)))
    m = prediction_metrics(np.zeros((0, 2)), LINE, pred_latlon=np.zeros((0, 2)))
    assert all(np.isnan(v) for v in m.values())


def test_hit_rates_counts_empty_slots_as_misses():
    top = np.array([[3, -1], [-1, -1], [1, 2]])
    assert hit_rates(top, np.array([3, -1, 2])) == {"recall_at_2": 2 / 3, "acc_at_1": 1 / 3}


def test_recall_at_k_logits_breaks_ties_on_index():
    logits = np.array([[1.0, 1.0, 1.0, 0.0]])
    assert recall_at_k_logits(logits, np.array([2]), k=2) == 0.0
    assert recall_at_k_logits(logits, np.array([1]), k=2) == 1.0


def test_k_nearest_equals_brute_force_with_ties_on_a_grid():
    # Prepare: a 7x7 grid, 100 m apart, full of equal distances, rows in a shuffled order;
    # queries on venues and halfway between them
    rng = np.random.default_rng(3)
    gx, gy = np.meshgrid(np.arange(-3, 4) * 100.0, np.arange(-3, 4) * 100.0)
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)[rng.permutation(49)]
    proj = LocalProjection(40.75, -73.98)
    vocab = np.stack(proj.to_latlon(xy[:, 0], xy[:, 1]), axis=1)
    q = np.r_[xy[:10], xy[:10] + [50.0, 0.0], xy[10:15] + [50.0, 50.0]]
    d = np.round(np.hypot(*(q[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), 3)
    brute = np.lexsort((np.broadcast_to(np.arange(49), d.shape), d), axis=1)
    # Execute
    got = VocabIndex(vocab).k_nearest(np.stack(proj.to_latlon(q[:, 0], q[:, 1]), axis=1), 6)
    # Assert
    np.testing.assert_array_equal(got, brute[:, :6])
