"""Plots a reviewer reads at a glance: one per goal and an overview with the run's headline.

A drawing library: each metric kind calls the function that draws its kind of evidence
(:func:`durations`, :func:`rates`, :func:`per_unit`); nothing here knows a metric class. Every plot
titles the verdict's real cause, prints the deciding statistic against the target, says "no data"
where there is none, and computes its margins from its wrapped text so none is ever clipped. Rendered with
matplotlib's Agg backend, DejaVu Sans, fixed size and DPI, no timestamp: the same evidence gives the
same bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sprintgate.canvas import FuncFormatter, LogLocator, MaxNLocator, NullLocator, plt
from sprintgate.decision import Decision, Outcome
from sprintgate.evidence import Evidence
from sprintgate.results import GoalResult, Kind
from sprintgate.units import PERCENT
from sprintgate.verdict import Verdict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = {Verdict.PASS: "#2e7d32", Verdict.FAIL: "#c62828", Verdict.INCONCLUSIVE: "#b26a00"}
OUTCOME_COLOURS = {
    Outcome.PROMOTE: "#2e7d32",
    Outcome.DO_NOT_PROMOTE: "#c62828",
    Outcome.WAIT: "#b26a00",
    Outcome.COULD_NOT_MEASURE: "#6a1b9a",
    Outcome.INCOMPLETE: "#455a64",
}
WINDOWS = {"BASELINE": "#546e7a", "POST": "#1565c0"}
_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "sprintgate",
}
_WIDTH = 8.0


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, then closed. Margins are computed from the wrapped titles, so one draw
    suffices (a constrained or tight layout draws twice and took most of a run's time)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _wrap(text: str, width: int = 95) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True)) or text


def cause(result: GoalResult) -> str:
    """The verdict and its real cause, in a few words: a precondition is named as such."""
    verdict = result.verdict.value.upper()
    code = result.reason_code
    if result.verdict is Verdict.PASS:
        return f"{verdict}: {result.unit.format(result.estimate)} against {result.unit.format(result.target)}"
    unmet = result.details.get("preconditions_unmet")
    if isinstance(unmet, list) and unmet:
        return f"{verdict}: precondition not met ({unmet[0]})"
    return f"{verdict}: {(code or 'no reason').replace('_', ' ')}"


_LINE = 0.19  # inches per line of 10-11 pt text


def _figure(height: float, result: GoalResult, *, left: float = 0.85) -> tuple[Figure, Axes]:
    """A goal's figure: its title, then the verdict and its cause, with margins made for their lines."""
    title, subtitle = _wrap(result.title, 80), _wrap(cause(result), 90)
    top = 0.2 + _LINE * (title.count("\n") + 1) * 1.15 + _LINE * (subtitle.count("\n") + 1) + 0.12
    figure = plt.figure(figsize=(_WIDTH, height + top))
    total = height + top
    axes = figure.add_axes((left / _WIDTH, 0.62 / total, 1 - (left + 0.25) / _WIDTH, (height - 0.62) / total))
    figure.text(0.1 / _WIDTH, 1 - 0.12 / total, title, ha="left", va="top", fontsize=11, fontweight="bold")
    axes.set_title(subtitle, loc="left", color=COLOURS[result.verdict], pad=6)
    return figure, axes


def _no_data(axes: Axes, what: str) -> None:
    axes.text(
        0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=axes.transAxes, fontsize=11, color="#555555"
    )
    axes.set_xticks([])
    axes.set_yticks([])


def _statistic_box(axes: Axes, result: GoalResult) -> None:
    """The deciding statistic against the target, in the goal's unit, inside the axes."""
    if result.estimate is None:
        return
    lines = [f"{result.measured}:", f"{result.unit.format(result.estimate)}"]
    if result.interval is not None:
        lines.append(
            f"interval {result.unit.format(result.interval.low)} to {result.unit.format(result.interval.high)}"
        )
    if result.target is not None:
        side = "at most" if result.better is not None and result.better.value == "lower" else "at least"
        lines.append(f"target {side} {result.unit.format(result.target)}")
    axes.text(
        0.02,
        0.97,
        "\n".join(_wrap(line, 48) for line in lines),
        transform=axes.transAxes,
        va="top",
        ha="left",
        fontsize=8.5,
        color=COLOURS[result.verdict],
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc", "alpha": 0.9},
    )


def _ecdf(axes: Axes, evidence: Evidence, measure: str, label: str, q: float) -> float | None:
    cells = evidence.window(label).durations.get(measure)
    if cells is None or cells.n == 0:
        return None
    histogram = cells.histogram()
    cumulative = np.cumsum(histogram.counts) / histogram.n
    keep = np.unique(np.searchsorted(cumulative, np.linspace(0, 1, 400), side="left").clip(0, cumulative.size - 1))
    axes.step(
        histogram.values[keep],
        cumulative[keep],
        where="post",
        color=WINDOWS[label],
        label=f"{label} (n = {histogram.n:,})",
    )
    value = histogram.quantile(q)
    axes.axvline(value, color=WINDOWS[label], linestyle=":", linewidth=1)
    return value


def draw_durations(
    result: GoalResult, evidence: Evidence, measure: str, q: float, *, reference: str, budget: float | None = None
) -> Figure:
    """The distribution of a duration in both windows (log scale), the quantile, the target and the
    deciding interval (a ratio is drawn at BASELINE's quantile times the ratio)."""
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure, axes = _figure(4.0, result)
        base = _ecdf(axes, evidence, measure, "BASELINE", q)
        post = _ecdf(axes, evidence, measure, "POST", q)
        if base is None and post is None:
            _no_data(axes, f"no {measure.replace('_', ' ')} values in either window")
            return figure
        unit = result.value_unit
        scale = base if reference == "ratio" else None
        if reference == "ratio" and scale and result.interval is not None:
            axes.axvspan(
                result.interval.low * scale,
                result.interval.high * scale,
                color=COLOURS[result.verdict],
                alpha=0.15,
                label="interval for POST's quantile",
            )
        if reference == "ratio" and scale and result.target is not None:
            axes.axvline(
                result.target * scale,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"target: {result.unit.format(result.target)} x BASELINE",
            )
        if reference == "budget" and budget is not None:
            axes.axvline(budget, color="black", linestyle="--", linewidth=1.2, label=f"budget {unit.format(budget)}")
            axes.axhline(q, color="#999999", linestyle=":", linewidth=1)
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xlabel(f"{measure.replace('_', ' ')} ({unit.name}, log scale)")
        axes.set_ylabel("share of events at or below")
        axes.set_ylim(0, 1.02)
        if post is None:
            axes.text(0.98, 0.05, "no data in POST", ha="right", transform=axes.transAxes, color="#555555")
        if base is None and reference == "ratio":
            axes.text(0.98, 0.12, "no data in BASELINE", ha="right", transform=axes.transAxes, color="#555555")
        axes.legend(loc="lower right", frameon=False, fontsize=8)
        _statistic_box(axes, result)
        return figure


def durations(
    result: GoalResult, evidence: Evidence, measure: str, q: float, *, reference: str, budget: float | None = None
) -> bytes:
    return png(draw_durations(result, evidence, measure, q, reference=reference, budget=budget))


def draw_rates(result: GoalResult, evidence: Evidence, measure: str) -> Figure:
    """The rate in both windows with the deciding interval, against the ceiling, floor or margin."""
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure, axes = _figure(3.0, result, left=1.0)
        totals = {
            label: (evidence.window(label).rates[measure].total if measure in evidence.window(label).rates else (0, 0))
            for label in ("BASELINE", "POST")
        }
        if not any(n for _, n in totals.values()):
            _no_data(axes, f"no {measure.replace('_', ' ')} events in either window")
            return figure
        for y, (label, (hits, n)) in enumerate(totals.items()):
            if not n:
                axes.text(
                    0.5,
                    y,
                    f"{label}: no data",
                    va="center",
                    ha="center",
                    transform=axes.get_yaxis_transform(),
                    color="#555555",
                )
                continue
            axes.plot([100 * hits / n], [y], "o", color=WINDOWS[label])
            axes.annotate(
                f"{PERCENT.format(hits / n)} of {n:,}",
                (100 * hits / n, y),
                xytext=(0, 9),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        if result.target is not None and result.unit is PERCENT:
            axes.axvline(
                100 * result.target,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"limit {PERCENT.format(result.target)}",
            )
        elif result.target is not None and result.baseline.value is not None and result.unit.name == "points":
            limit = result.baseline.value + result.target
            axes.axvline(
                100 * limit,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"BASELINE {result.unit.format(result.target)}",
            )
        if result.interval is not None and result.unit is PERCENT:
            axes.axvspan(
                100 * result.interval.low,
                100 * result.interval.high,
                color=COLOURS[result.verdict],
                alpha=0.15,
                label="interval for POST",
            )
        axes.set_yticks([0, 1], ["BASELINE", "POST"])
        axes.set_ylim(-0.7, 3.6)  # the room above POST holds the statistic's box
        axes.set_xlabel(f"{measure.replace('_', ' ')} rate (%)")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="lower right", frameon=False, fontsize=8)
        _statistic_box(axes, result)
        return figure


def rates(result: GoalResult, evidence: Evidence, measure: str) -> bytes:
    return png(draw_rates(result, evidence, measure))


def draw_per_unit(result: GoalResult, evidence: Evidence, measure: str) -> Figure:
    """How many units had how many rows, in both windows (the tail folded into "15+")."""
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure, axes = _figure(3.8, result)
        width = 0.4
        drawn = False
        for offset, label in zip((-width / 2, width / 2), ("BASELINE", "POST"), strict=True):
            cells = evidence.window(label).units.get(measure)
            histogram = None if cells is None else cells.per_unit
            if histogram is None or histogram.n == 0:
                continue
            drawn = True
            counts = np.minimum(histogram.values, 15)
            shares = np.array([histogram.counts[counts == k].sum() for k in range(1, 16)]) / histogram.n
            axes.bar(
                np.arange(1, 16) + offset,
                shares,
                width=width,
                color=WINDOWS[label],
                label=f"{label}: mean {histogram.mean():.2f} ({histogram.n:,} units)",
            )
        if not drawn:
            _no_data(axes, "no units in either window")
            return figure
        axes.set_xticks(range(1, 16), [str(k) for k in range(1, 15)] + ["15+"])
        axes.set_ylim(0, axes.get_ylim()[1] * 1.8)  # the room above the bars holds the statistic's box
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, prune="upper"))
        axes.set_xlabel(f"{result.value_unit.name} per unit")
        axes.set_ylabel("share of units")
        axes.legend(loc="upper right", frameon=False, fontsize=8)
        _statistic_box(axes, result)
        return figure


def per_unit(result: GoalResult, evidence: Evidence, measure: str) -> bytes:
    return png(draw_per_unit(result, evidence, measure))


def draw_overview(results: Sequence[GoalResult], decision: Decision) -> Figure:
    """The headline, what to do next and the preconditions, then every goal as a row: its estimate and
    interval against its target (each row in its own unit), coloured by verdict."""
    shown = [r for r in results if r.kind is not Kind.PRECONDITION]
    preconditions = [r for r in results if r.kind is Kind.PRECONDITION]
    unmet = [p for p in preconditions if p.verdict is not Verdict.PASS]
    note = "Preconditions: " + (
        "all met" if not unmet else "; ".join(f"{p.goal} {p.verdict.value.upper()}" for p in unmet)
    )
    header = "\n".join([_wrap(decision.line(), 100), _wrap(f"Next: {decision.next_step}", 110), _wrap(note, 110)])
    titles = [_wrap(f"{r.title} [{r.unit.name}]: {cause(r)}", 110) for r in shown]
    width, left, right = 9.5, 0.25, 0.3
    head = 0.25 + _LINE * (header.count("\n") + 1)
    rows = [_LINE * (t.count("\n") + 1) + 0.28 + 0.42 for t in titles]  # title, the axes, its tick labels
    total = head + sum(rows) + 0.2 + (0.6 if not shown else 0)
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = plt.figure(figsize=(width, total))
        figure.text(
            0.1 / width,
            1 - 0.12 / total,
            header,
            ha="left",
            va="top",
            fontsize=10,
            color=OUTCOME_COLOURS[decision.outcome],
        )
        y = total - head
        for result, title, row in zip(shown, titles, rows, strict=True):
            y -= row
            axes = figure.add_axes((left / width, (y + 0.42) / total, 1 - (left + right) / width, 0.28 / total))
            colour = COLOURS[result.verdict]
            unit = result.unit
            scale = unit.scale
            if (
                result.interval is not None
                and math.isfinite(result.interval.low)
                and math.isfinite(result.interval.high)
            ):
                axes.plot(
                    [result.interval.low * scale, result.interval.high * scale],
                    [0, 0],
                    color=colour,
                    linewidth=5,
                    solid_capstyle="butt",
                )
            if result.estimate is not None:
                axes.plot([result.estimate * scale], [0], "o", color="white", markeredgecolor=colour, markersize=8)
            if result.target is not None:
                axes.axvline(result.target * scale, color="black", linestyle="--", linewidth=1)
            if result.estimate is None and result.interval is None:
                axes.text(
                    0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes, color="#555555", fontsize=9
                )
            axes.set_yticks([])
            axes.spines["left"].set_visible(False)
            axes.tick_params(axis="x", labelsize=8)
            axes.xaxis.set_major_locator(MaxNLocator(nbins=6))
            axes.set_title(title, loc="left", fontsize=9, color=colour, pad=4)
        if not shown:
            figure.text(0.5, 0.3 / total, "no goal was judged", ha="center", va="center")
        return figure


def overview(results: Sequence[GoalResult], decision: Decision) -> bytes:
    return png(draw_overview(results, decision))


def text_overlaps(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of visible texts whose boxes overlap once drawn (for the tests: nothing may overlap)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    texts: list[Any] = [*figure.texts, getattr(figure, "_suptitle", None)]  # where matplotlib keeps the suptitle
    for axes in figure.axes:
        titles = [getattr(axes, f"_{side}_title", None) for side in ("left", "right")]
        texts += [axes.title, *titles, axes.xaxis.label, axes.yaxis.label, *axes.texts]
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = (high - low) * 1e-9
            texts += [tick.label1 for tick in axis.get_major_ticks() if low - slack <= tick.get_loc() <= high + slack]
        legend = axes.get_legend()
        if legend is not None:
            texts += list(legend.get_texts())
    texts = list({id(t): t for t in texts if t is not None and t.get_visible() and t.get_text().strip()}.values())
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    overlaps = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1 :]:
            if box_a.overlaps(box_b) and box_a.width and box_b.width:
                overlaps.append((a, b))
    return overlaps
