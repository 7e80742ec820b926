"""ASR, AIT and recall@k on hand-made values."""
import numpy as np

from core.metrics.attack import ait_summary, asr, errors_m
from core.metrics.utility import recall_at_k, recall_at_k_logits


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
