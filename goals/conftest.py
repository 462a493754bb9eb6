"""The auto-assign rollout's suite: sprintgate's plugin, opted into for this folder only."""

from goals.rollout import SUITE

pytest_plugins = ("sprintgate.plugin",)

__all__ = ["SUITE"]
