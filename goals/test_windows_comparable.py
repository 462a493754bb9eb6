"""Precondition: BASELINE and POST see comparable demand.

Demand events (background job and inline outcomes) per day differ by at most a factor 1.5
(`max_volume_ratio`); their hour-of-day and weekday mix by at most 10 % total variation
(`max_mix_distance`); the reasonCode mix of failed attempts and the mix of the 20 largest restaurants
by at most 20 % (`max_reason_distance`, `max_restaurant_distance`). Otherwise a difference between
the windows could be the traffic, not the rollout: goals that would pass are INCONCLUSIVE.
"""

from sprintgate import WINDOWS_COMPARABLE, Gate


def test_windows_comparable(gate: Gate) -> None:
    gate.check_precondition(WINDOWS_COMPARABLE)
