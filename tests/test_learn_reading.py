"""The Learn page's readings of its numbers: AIT as the paper defines it, and the calibration."""
from ui.learn import ait_sentence, calibration_reading, first_and_settled


def test_ait_is_where_the_dummy_stays_within_the_radius():
    err = [3000, 900, 400, 1524, 450, 300, 200]
    assert first_and_settled(err, 500) == (2, 4)
    assert "left again (up to 1,524 m)" in ait_sentence(err, 2, 4, 500)


def test_a_point_that_ends_outside_has_no_ait():
    err = [3000, 400, 1524]
    assert first_and_settled(err, 500) == (1, None)
    assert "did not stay" in ait_sentence(err, 1, None, 500)
    assert first_and_settled([900, 800], 500) == (None, None)
    assert first_and_settled([100, 50], 500) == (0, 0)


def test_calibration_reading_says_when_errors_grow():
    rows = [{"round": 1, "raw_error_m": 14.0, "calibrated_error_m": 14.0},
            {"round": 3, "raw_error_m": 1089.0, "calibrated_error_m": 282.0}]
    text = calibration_reading(rows)
    assert "1,089 m" in text and "282 m" in text and "grows" in text and "(14 m)" in text
    assert calibration_reading([]) == "No round saw this point twice."
