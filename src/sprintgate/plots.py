"""Plots a reviewer reads at a glance: one per goal and one overview of the run (PNG, headless).

Rendered with matplotlib's Agg backend, DejaVu Sans, fixed size and DPI, and no timestamp in the file,
so the same evidence always gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sprintgate import stats
from sprintgate.evidence import Evidence, Proportion, WindowEvidence
from sprintgate.goals import (
    Goal,
    MeanRatio,
    ProportionCeiling,
    ProportionChange,
    QuantileBudget,
    QuantileRatio,
    proportion_of,
)
from sprintgate.results import GoalResult, Kind
from sprintgate.verdict import Verdict

COLOURS = {Verdict.PASS: "#2e7d32", Verdict.FAIL: "#c62828", Verdict.INCONCLUSIVE: "#b26a00"}
WINDOWS = {"BASELINE": "#546e7a", "POST": "#1565c0"}
_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "sprintgate",
}


def _legend(axes: Axes, **options: Any) -> None:
    """A legend only when something is labelled (an empty legend warns)."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(frameon=False, fontsize=8, **options)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _figure(height: float, left: float) -> tuple[Figure, Axes]:
    """A goal's figure with fixed margins: constrained layout draws it twice, and would cost ~40 % of a
    run's plotting time."""
    figure, axes = plt.subplots(figsize=(7.5, height))
    figure.subplots_adjust(left=left, right=0.98, bottom=0.5 / height, top=1 - 0.35 / height)
    return figure, axes


def _title(result: GoalResult) -> str:
    return f"{result.title}: {result.verdict.value.upper()}"


def _ecdf(axes: Axes, window: WindowEvidence, measure: str, label: str) -> float | None:
    histogram = window.durations[measure]
    if histogram.n == 0:
        return None
    cumulative = np.cumsum(histogram.counts) / histogram.n
    # 400 points draw the same curve as thousands of buckets, several times faster.
    keep = np.unique(np.searchsorted(cumulative, np.linspace(0, 1, 400), side="left").clip(0, cumulative.size - 1))
    axes.step(
        histogram.values[keep],
        cumulative[keep],
        where="post",
        color=WINDOWS[label],
        label=f"{label} (n = {histogram.n:,})",
    )
    p95 = histogram.quantile(0.95)
    axes.axvline(p95, color=WINDOWS[label], linestyle=":", linewidth=1)
    axes.annotate(
        f"{label} p95 {p95:,.0f} ms",
        (p95, 0.95),
        xytext=(4, -14 if label == "POST" else 4),
        textcoords="offset points",
        fontsize=8,
        color=WINDOWS[label],
    )
    return p95


def _latency(result: GoalResult, evidence: Evidence, metric: QuantileRatio | QuantileBudget) -> Figure:
    figure, axes = _figure(4.2, left=0.09)
    base_p95 = _ecdf(axes, evidence.baseline, metric.measure, "BASELINE") if isinstance(metric, QuantileRatio) else None
    if isinstance(metric, QuantileBudget):
        _ecdf(axes, evidence.baseline, metric.measure, "BASELINE")
    _ecdf(axes, evidence.post, metric.measure, "POST")
    interval, target = result.interval, result.target
    scale = base_p95 if isinstance(metric, QuantileRatio) else 1.0
    if interval is not None and scale:
        axes.axvspan(
            interval.low * scale,
            interval.high * scale,
            color=COLOURS[result.verdict],
            alpha=0.2,
            label=f"POST p95 {interval.level:.0%} interval",
        )
    if target is not None and scale:
        what = f"target {target:g} x BASELINE p95" if isinstance(metric, QuantileRatio) else f"budget {target:,.0f} ms"
        axes.axvline(target * scale, color="black", linestyle="--", linewidth=1.2, label=what)
    axes.set_xscale("log")
    axes.set_xlabel(f"{metric.measure.replace('_', ' ')} (ms, log scale)")
    axes.set_ylabel("share of events at or below")
    axes.set_ylim(0, 1.02)
    _legend(axes, loc="lower right")
    axes.set_title(_title(result))
    return figure


def _attempts(result: GoalResult, evidence: Evidence) -> Figure:
    figure, axes = _figure(4.2, left=0.09)
    width = 0.4
    for offset, (label, window) in zip(
        (-width / 2, width / 2), (("BASELINE", evidence.baseline), ("POST", evidence.post)), strict=True
    ):
        histogram = window.attempts_per_booking
        if histogram.n == 0:
            continue
        counts = np.minimum(histogram.values, 15)
        shares = np.array([histogram.counts[counts == k].sum() for k in range(1, 16)]) / histogram.n
        mean = histogram.moments().mean
        axes.bar(
            np.arange(1, 16) + offset,
            shares,
            width=width,
            color=WINDOWS[label],
            label=f"{label}: mean {mean:.2f} (n = {histogram.n:,} bookings)",
        )
    axes.set_xticks(range(1, 16), [str(k) for k in range(1, 15)] + ["15+"])
    axes.set_xlabel("attempts per booking")
    axes.set_ylabel("share of bookings")
    if result.interval is not None:
        axes.text(
            0.98,
            0.6,
            f"ratio {result.estimate:.3f}\n{result.interval.level:.0%} CI {result.interval.low:.3f} to "
            f"{result.interval.high:.3f}\ntarget <= {result.target:g}",
            transform=axes.transAxes,
            ha="right",
            fontsize=9,
            color=COLOURS[result.verdict],
        )
    _legend(axes)
    axes.set_title(_title(result))
    return figure


def _rates(
    result: GoalResult, evidence: Evidence, metric: ProportionCeiling | ProportionChange, level: float
) -> Figure:
    figure, axes = _figure(3.2, left=0.12)
    rows: list[tuple[str, Proportion]] = [
        ("BASELINE", proportion_of(evidence.baseline, metric.measure)),
        ("POST", proportion_of(evidence.post, metric.measure)),
    ]
    for y, (label, proportion) in enumerate(rows):
        estimate = stats.wilson_interval(proportion.hits, proportion.n, level)
        if estimate.statistic is None or estimate.interval is None:
            axes.text(0.5, y, f"{label}: no data", va="center", transform=axes.get_yaxis_transform())
            continue
        axes.errorbar(
            estimate.statistic * 100,
            y,
            xerr=[
                [100 * (estimate.statistic - estimate.interval.low)],
                [100 * (estimate.interval.high - estimate.statistic)],
            ],
            fmt="o",
            color=WINDOWS[label],
            capsize=5,
        )
        axes.annotate(
            f"{100 * estimate.statistic:.2f} % (n = {proportion.n:,})",
            (100 * estimate.statistic, y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    if result.target is not None:
        if isinstance(metric, ProportionCeiling):
            axes.axvline(
                100 * result.target,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"ceiling {100 * result.target:g} %",
            )
        elif rows[0][1].rate is not None:
            limit = 100 * (rows[0][1].rate + metric.threshold(result.target))
            axes.axvline(
                limit,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"BASELINE {'-' if metric.threshold(result.target) < 0 else '+'} {100 * result.target:g} points",
            )
        _legend(axes, loc="lower right")
    axes.set_yticks([0, 1], ["BASELINE", "POST"])
    axes.set_ylim(-0.6, 1.6)
    axes.set_xlabel(f"{metric.measure.replace('_', ' ')} rate (%), {level:.0%} Wilson intervals")
    axes.set_title(_title(result))
    return figure


def goal_plot(goal: Goal, result: GoalResult, evidence: Evidence) -> bytes:
    """The plot of one goal or guardrail, as PNG bytes."""
    metric = goal.metric
    level = result.interval.level if result.interval is not None else 0.90
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]  # matplotlib types the keys as literals
        if isinstance(metric, QuantileRatio | QuantileBudget):
            return _png(_latency(result, evidence, metric))
        if isinstance(metric, MeanRatio):
            return _png(_attempts(result, evidence))
        if isinstance(metric, ProportionCeiling | ProportionChange):
            return _png(_rates(result, evidence, metric, level))
    raise TypeError(f"sprintgate: no plot for {type(metric).__name__}")


def overview_plot(results: Sequence[GoalResult]) -> bytes:
    """Every goal as a row: its estimate and interval against its target, coloured by verdict."""
    shown = [r for r in results if r.kind is not Kind.PRECONDITION]
    preconditions = [r for r in results if r.kind is Kind.PRECONDITION]
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]  # matplotlib types the keys as literals
        rows = max(1, len(shown))
        figure, axes_list = plt.subplots(rows, 1, figsize=(9, 0.75 * rows + 1.4), squeeze=False)
        for axes, result in zip(axes_list[:, 0], shown, strict=False):
            colour = COLOURS[result.verdict]
            threshold = result.details.get("threshold", result.target)
            if result.interval is not None:
                axes.plot(
                    [result.interval.low, result.interval.high],
                    [0, 0],
                    color=colour,
                    linewidth=5,
                    solid_capstyle="butt",
                )
            if result.estimate is not None:
                axes.plot([result.estimate], [0], "o", color="white", markeredgecolor=colour, markersize=8)
            if isinstance(threshold, int | float):
                axes.axvline(threshold, color="black", linestyle="--", linewidth=1)
            axes.set_yticks([])
            axes.spines["left"].set_visible(False)
            axes.tick_params(axis="x", labelsize=8)
            axes.text(-0.02, 0.5, f"{result.title}", transform=axes.transAxes, ha="right", va="center", fontsize=9)
            axes.text(
                1.02,
                0.5,
                result.verdict.value.upper(),
                transform=axes.transAxes,
                ha="left",
                va="center",
                fontsize=9,
                color=colour,
                fontweight="bold",
            )
        unmet = [p for p in preconditions if p.verdict is not Verdict.PASS]
        note = "Preconditions: " + (
            "all met" if not unmet else "; ".join(f"{p.goal} {p.verdict.value.upper()}" for p in unmet)
        )
        figure.suptitle("sprintgate: estimate and interval against the target (dashed)", fontsize=11)
        figure.text(
            0.5, 0.005, note, ha="center", fontsize=9, color=COLOURS[Verdict.FAIL] if unmet else COLOURS[Verdict.PASS]
        )
        figure.subplots_adjust(left=0.38, right=0.88, hspace=1.2, top=0.9, bottom=0.12)
        return _png(figure)
