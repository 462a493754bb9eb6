"""The fast-checkout rollout's suite: sprintgate's plugin, opted into for this folder only."""

from goals.checkout import SUITE

pytest_plugins = ("sprintgate.plugin",)

__all__ = ["SUITE"]
