"""Time slots (`core.data.timeslots`) and their path to the model (`ClientPopulation.window_slots`).

Fixture: check-in times built here from calendar dates, so every expected slot is read off the
calendar by hand: 48 slots = local hour + 24 at weekends, local = UTC + the standard offset of
the nautical zone at the dataset's longitude (DST ignored)."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import torch

from core.data.preprocess import Normalizer
from core.data.timeslots import N_SLOTS, standard_offset_s, time_slots
from core.data.trajectory import Trajectory
from core.federated.clients import ClientPopulation
from core.geo.bbox import BBox


def _utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def test_slots_are_local_hour_plus_24_at_weekends():
    t = np.array([_utc(2012, 4, 9, 13, 30),    # Mon 08:30 at UTC−5
                  _utc(2012, 4, 7, 17, 42),    # Sat 12:42
                  _utc(2012, 4, 9, 4, 59),     # Sun 23:59 (still Sunday locally)
                  _utc(2012, 4, 9, 5, 0),      # Mon 00:00
                  _utc(2012, 4, 14, 4, 0)])    # Fri 23:00
    assert time_slots(t, -5 * 3600).tolist() == [8, 36, 47, 0, 23]
    assert time_slots(t, 0).tolist() == [13, 17 + 24, 4, 5, 4 + 24]   # UTC: Sat 04:00 is a weekend
    assert set(time_slots(np.arange(0, 14 * 86400, 1800), 0).tolist()) == set(range(N_SLOTS))


def test_standard_offset_from_longitude():
    assert standard_offset_s(-73.97) == -5 * 3600     # New York (EST)
    assert standard_offset_s(-87.63) == -6 * 3600     # Chicago (CST)
    assert standard_offset_s(2.35) == 0                # Paris' nautical zone is UTC (DST ignored)
    assert standard_offset_s(139.7) == 9 * 3600        # Tokyo


def test_window_slots_are_parallel_to_the_windows():
    lat = np.array([40.70, 40.71, 40.72, 40.73, 40.74])
    lon = np.array([-74.00, -73.99, -73.98, -73.97, -73.96])
    t = np.array([_utc(2012, 4, 9, 13, 0) + 3600 * j for j in range(5)])   # Mon 08:00 .. 12:00
    tr = Trajectory("a", t, lat, lon)
    pop = ClientPopulation.from_trajectories([tr, tr], Normalizer(BBox.of(lat, lon)))
    x, _ = pop.windows(np.array([1]), np.array([0, 2]), 2)
    s = pop.window_slots(np.array([1]), np.array([0, 2]), 2)
    assert s.dtype == torch.long and s.shape == x.shape[:-1]                 # (1, 2, 2)
    assert s.tolist() == [[[8, 9], [10, 11]]]
    assert pop.point_slots(0).tolist() == [8, 9, 10, 11, 12]
