"""Clustered telemetry: how much less an estimate knows than its event count suggests.

Events of one tenant, one hour or one incident are not independent. Every statistic the gate
uses is a ratio of sums (a rate, a mean per unit, the share of events at or below a quantile), so its
variance follows from the residual totals per cell ``z = Y - R X``:

- ``V_groups``: the cluster-robust variance over the suite's cluster groups (a tenant, say);
- ``V_time``: the cluster-robust variance over time slots, centred within time-of-day strata (the
  day/night pattern is the same in both windows by design, not noise);
- ``V_cells``: the same over cells (the intersection of both), which two-way clustering subtracts;
- ``V_iid``: the textbook variance of independent events (or units).

Two-way clustering (Cameron, Gelbach & Miller 2011) gives ``V_groups + V_time - V_cells``; the gate
uses the largest of that, each one-way variance and ``V_iid``, so clustering can only widen an
interval. The *design effect* ``V / V_iid`` turns a sample of ``n`` events into ``n / deff``
effective ones, and each interval method runs on the effective size. With few clusters the variance
is itself uncertain: the design effect is inflated by ``(t_dof / z)^2`` for the side's error rate,
with ``dof`` one less than the clusters (Cameron & Miller 2015, section VI). Clusters of unequal size
carry fewer degrees of freedom than their count: over the cluster groups ``dof`` is one less than
their *effective* number ``(sum x_g^2)^2 / sum x_g^4`` (``x_g`` the group's events; the Satterthwaite
degrees of freedom of ``sum_g z_g^2`` when a group's variance grows with its size squared, as it does
when clustering matters; the idea of Carter, Schnepel & Steigerwald's effective number of clusters,
2017). Equal groups keep ``G - 1``; a suite
whose events come from a dozen tenants of very different volume gets the wider interval it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from sprintgate import stats
from sprintgate.compiler import Layout

Cells = NDArray[np.float64] | NDArray[np.int64]


class Clustering(StrEnum):
    """Which correlation an interval allows for."""

    BOTH = "cluster+time"  # the suite's cluster column and time slots (the default)
    CLUSTER = "cluster"  # the suite's cluster column only
    TIME = "time"  # time slots only
    NONE = "none"  # independent events (textbook intervals)

    @property
    def groups(self) -> bool:
        return self in (Clustering.BOTH, Clustering.CLUSTER)

    @property
    def time(self) -> bool:
        return self in (Clustering.BOTH, Clustering.TIME)


@dataclass(frozen=True, slots=True)
class DesignEffect:
    """How clustered one estimate is: the variance ratio to independent events, and how many
    clusters that ratio rests on."""

    deff: float
    dof: float  # degrees of freedom of the cluster-robust variance; inf for independent events
    groups: int  # non-empty cluster groups
    slots: int  # non-empty time slots

    @classmethod
    def independent(cls) -> DesignEffect:
        return cls(1.0, math.inf, 0, 0)

    def inflation(self, alpha: float) -> float:
        """The design effect with the small-sample factor for a bound at one-sided error ``alpha``."""
        if not math.isfinite(self.deff) or self.dof < 1:
            return math.inf
        if not math.isfinite(self.dof):
            return self.deff
        return self.deff * (stats.t(alpha, self.dof) / stats.z(alpha)) ** 2

    def effective(self, n: float, alpha: float) -> float:
        return n / self.inflation(alpha)


def _robust(totals: NDArray[np.float64], present: NDArray[np.bool_]) -> tuple[float, int]:
    """``G / (G - 1) * sum(Z_g^2)`` over the ``G`` present clusters (CR1), and ``G``."""
    count = int(present.sum())
    if count < 2:
        return math.inf, count
    return count / (count - 1) * float(np.sum(totals[present] ** 2)), count


def effective_clusters(sizes: NDArray[np.float64]) -> float:
    """``(sum x^2)^2 / sum x^4`` over the non-empty clusters: their count when they are equal, fewer
    when a few large ones dominate (the degrees of freedom of a cluster-robust variance then rest on
    those few)."""
    present = sizes[sizes > 0] / max(float(sizes.max(initial=0.0)), 1e-300)
    squares = present * present
    fourth = float(np.sum(squares * squares))
    return float(np.sum(squares)) ** 2 / fourth if fourth > 0 else 0.0


def design_effect(
    y: Cells, x: Cells, iid_variance: float, layout: Layout, clustering: Clustering
) -> DesignEffect | None:
    """The design effect of ``R = sum(y) / sum(x)`` from its cell totals ``y`` and ``x`` (shape
    ``[slots, groups + 1]``), where ``iid_variance`` is ``sum_i (y_i - R x_i)^2`` over the
    independent units. ``None`` when there is no spread to measure (``iid_variance`` is 0)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    total = x.sum()
    if total <= 0 or iid_variance <= 0:
        return None
    if clustering is Clustering.NONE:
        return DesignEffect.independent()
    residual = y - (y.sum() / total) * x
    candidates = [iid_variance]
    dofs = []
    groups = slots = 0
    v_groups = v_time = math.inf
    if clustering.groups:
        v_groups, groups = _robust(residual.sum(axis=0), x.sum(axis=0) > 0)
        candidates.append(v_groups)
        dofs.append(max(1.0, effective_clusters(x.sum(axis=0)) - 1) if groups >= 2 else groups - 1)
    if clustering.time:
        by_slot = residual.sum(axis=1)
        present = x.sum(axis=1) > 0
        stratum = np.arange(layout.slots) % layout.slots_per_day
        v_time, slots, strata = 0.0, int(present.sum()), 0
        for s in range(layout.slots_per_day):
            mine = present & (stratum == s)
            count = int(mine.sum())
            if count >= 2:
                centred = by_slot[mine] - by_slot[mine].mean()
                v_time += count / (count - 1) * float(np.sum(centred**2))
                strata += 1
            elif count == 1:
                v_time = math.inf
        candidates.append(v_time if strata else math.inf)
        dofs.append(slots - max(1, strata))
    if clustering is Clustering.BOTH and math.isfinite(v_groups) and math.isfinite(v_time):
        v_cells, _ = _robust(residual.ravel(), (x > 0).ravel())
        candidates.append(v_groups + v_time - v_cells)
    variance = max(candidates)
    dof = float(min(dofs)) if dofs else math.inf
    if not math.isfinite(variance) or dof < 1:
        return DesignEffect(math.inf, max(dof, 0.0), groups, slots)
    return DesignEffect(variance / iid_variance, dof, groups, slots)


def indicator_design_effect(
    at_or_below: Cells, totals: Cells, layout: Layout, clustering: Clustering
) -> DesignEffect | None:
    """The design effect of the share of events at or below a threshold (a rate, or the level of a
    quantile): independent Bernoulli events have ``sum_i (y_i - F)^2 = N F (1 - F)``."""
    n = float(np.sum(totals))
    share = float(np.sum(at_or_below)) / n if n else 0.0
    return design_effect(at_or_below, totals, n * share * (1 - share), layout, clustering)
