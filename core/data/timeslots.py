"""Time slots of check-ins, as DeepMove embeds them (Feng et al., "DeepMove: Predicting Human
Mobility with Attentional Recurrent Networks", WWW 2018, §4.1 multi-modal embedding; the
authors' code uses 48 slots: the hour of the day, plus 24 on Saturdays and Sundays).

slot = local hour (0–23) + 24 if the local day is a Saturday or Sunday, so N_SLOTS = 48.

Local time: trajectories hold UTC seconds only (`core.data.trajectory`), so local time is UTC
plus the *standard* offset of the nautical time zone at the dataset's longitude,
round(lon / 15°) hours (New York −5 h, Chicago −6 h). Daylight saving time is ignored: in summer
a slot is one hour earlier than the wall clock (e.g. a 9:30 EDT check-in falls in slot 8). The
offset is one constant per dataset, so slots depend on the time alone, never on where the
(possibly perturbed) point is.
"""
from __future__ import annotations

import numpy as np

N_SLOTS = 48
HOURS = 24
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def standard_offset_s(lon: float) -> int:
    """UTC offset (seconds) of the nautical time zone at longitude `lon` (degrees east)."""
    return int(round(float(lon) / 15.0)) * 3600


def time_slots(t_utc: np.ndarray, offset_s: int) -> np.ndarray:
    """int64 slots (same shape as `t_utc`, UTC epoch seconds) at UTC offset `offset_s`."""
    local = np.asarray(t_utc, dtype=np.int64) + int(offset_s)
    hour = (local // 3600) % HOURS
    weekday = (local // 86400 + EPOCH_WEEKDAY) % 7
    return hour + HOURS * (weekday >= 5)
