"""Reports of one run: ``results.json`` for machines, ``summary.md`` for people and change records,
``metrics.csv`` for spreadsheets, and ``reports/summary.md`` across environments.

All come from the same structures (:class:`sprintgate.results.GoalResult`, :class:`Decision`) through
one formatter per unit (:mod:`sprintgate.units`); text from users and telemetry is escaped for the
place it goes (:mod:`sprintgate.text`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sprintgate.decision import ACTIONS, Decision
from sprintgate.evidence import Evidence
from sprintgate.goals import Row
from sprintgate.provenance import RunInfo
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.suite import Suite
from sprintgate.text import limited, markdown_inline, terminal
from sprintgate.units import PERCENT, POINTS, RATIO, Unit
from sprintgate.verdict import Interval

FORMAT = "sprintgate-results/2"


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One row of the metric table: a label, its unit, the value in each window, and the goal beside it."""

    label: str
    unit: Unit
    baseline: Observation
    post: Observation
    goal: str | None = None

    def delta(self) -> str:
        """The change in the row's own terms: points for rates, a ratio for everything else."""
        b, p = self.baseline.value, self.post.value
        if b is None or p is None:
            return "n/a"
        if self.unit is PERCENT:
            return POINTS.format(p - b)
        return RATIO.format(p / b) if b else "n/a"


def metric_rows(suite: Suite, evidence: Evidence | None) -> list[MetricRow]:
    """The suite's declared report rows, measured in both windows; a split row gets one row per value."""
    if evidence is None:
        return []
    rows = []
    for row in suite.report:
        assert isinstance(row, Row)
        metric = row.metric
        rows.append(
            MetricRow(row.label, metric.unit, metric.value(evidence.baseline), metric.value(evidence.post), row.goal)
        )
        split = getattr(metric, "split", None)
        if split is not None:
            before, after = split(evidence.baseline), split(evidence.post)
            for label in sorted(set(before) | set(after)):
                rows.append(
                    MetricRow(
                        f"{row.label} ({label})",
                        metric.unit,
                        before.get(label, Observation(None, 0)),
                        after.get(label, Observation(None, 0)),
                    )
                )
    return rows


def interval_text(unit: Unit, interval: Interval | None) -> str:
    if interval is None:
        return "n/a"
    level = (
        f"{interval.level:.0%}"
        if interval.symmetric
        else f"{interval.low_confidence:.1%}/{interval.high_confidence:.1%}"
    )
    return f"[{unit.format(interval.low)}, {unit.format(interval.high)}] at {level}".replace("%", " %").replace(
        "  %", " %"
    )


def goal_table(results: Sequence[GoalResult]) -> list[list[str]]:
    """Goals and preconditions, one unit per row: the estimate, interval and target in the goal's unit,
    the measure in each window in the measure's unit."""
    rows = [["check", "kind", "verdict", "estimate", "interval", "target", "baseline", "post", "n (baseline/post)"]]
    for r in results:
        kind = r.kind.value + (" (advisory)" if r.advisory else "")
        rows.append(
            [
                r.goal,
                kind,
                r.verdict.value.upper(),
                r.unit.format(r.estimate),
                interval_text(r.unit, r.interval),
                r.unit.format(r.target),
                r.value_unit.format(r.baseline.value),
                r.value_unit.format(r.post.value),
                "n/a" if r.kind is Kind.PRECONDITION else f"{r.baseline.n:,}/{r.post.n:,}",
            ]
        )
    return rows


def _window(window: Any) -> dict[str, str] | None:
    return None if window is None else {"start": window.start.isoformat(), "end": window.end.isoformat()}


def results_document(
    info: RunInfo,
    suite: Suite,
    decision: Decision,
    results: Sequence[GoalResult],
    not_judged: Sequence[str],
    evidence: Evidence | None,
) -> dict[str, Any]:
    """The machine-readable record of a run; the same shape for every outcome, faults included."""
    census = None if evidence is None else evidence.census
    return {
        "format": FORMAT,
        "env": info.env,
        "suite": info.suite,
        "generated_at": info.generated_at.isoformat(),
        "source": info.source,
        "baseline": _window(info.baseline),
        "post": _window(info.post),
        "flip": info.flip,
        "flags": list(suite.flags),
        "change_record": None
        if info.change_record is None
        else {"id": info.change_record, "url": info.change_record_url},
        "forced": info.forced,
        "staging": None if info.staging is None else dict(info.staging),
        "notes": list(info.notes),
        "confidence": info.confidence,
        "seed": info.seed,
        "versions": dict(info.versions),
        "snapshot": info.snapshot,
        "verdict": decision.verdict,
        "decision": {
            "outcome": decision.outcome.value,
            "headline": decision.line(),
            "cause": decision.cause,
            "next_step": decision.next_step,
            "exit_code": decision.exit_code,
            "blocked_by": decision.blocked_by,
        },
        "checks": {"judged": decision.judged, "total": decision.total, "not_judged": list(not_judged)},
        "goals": [r.to_dict() for r in results],
        "metrics": [
            {
                "metric": r.label,
                "unit": r.unit.name,
                "goal": r.goal,
                "baseline": r.baseline.value,
                "post": r.post.value,
                "n_baseline": r.baseline.n,
                "n_post": r.post.n,
                "shown": {
                    "baseline": r.unit.format(r.baseline.value),
                    "post": r.unit.format(r.post.value),
                    "delta": r.delta(),
                },
            }
            for r in metric_rows(suite, evidence)
        ],
        "excluded_rows": [] if evidence is None else excluded_rows(evidence),
        "census": None
        if census is None
        else {
            "checked_at": census.checked_at.isoformat(),
            "newest_event_at": None if census.newest_event_at is None else census.newest_event_at.isoformat(),
            "future_rows": census.future_rows,
            "ancient_rows": census.ancient_rows,
            "null_created_at": census.null_created_at,
            "null_event_type": dict(census.null_event_type),
            "variants": dict(census.variants),
            "other_types": {w: dict(v) for w, v in census.other_types.items()},
            "duplicate_ids": None if census.duplicate_ids is None else dict(census.duplicate_ids),
        },
        "queries": []
        if evidence is None
        else [
            {"name": q.name, "parameters": dict(q.parameters), "seconds": q.seconds, "rows": q.rows}
            for q in evidence.queries
        ],
    }


def excluded_rows(evidence: Evidence) -> list[dict[str, Any]]:
    return [
        {"measure": measure, "window": label, "reason": reason, "rows": n}
        for label, window in evidence.windows()
        for measure, reasons in window.excluded.items()
        for reason, n in sorted(reasons.items())
    ]


def _md(text: str) -> str:
    """Text for a Markdown table cell or list item."""
    return markdown_inline(limited(text, 2000), cell=True)


def summary_markdown(document: Mapping[str, Any], history: Sequence[Mapping[str, Any]] = ()) -> str:
    """``summary.md`` of one environment, from its results document: the headline first."""
    decision = document["decision"]
    out = [
        f"# sprintgate: {_md(document['suite'])} ({_md(document['env'])})",
        "",
        f"**{_md(decision['headline'])}**",
        "",
        f"- Next: {_md(decision['next_step'])} (exit {decision['exit_code']}: {_md(ACTIONS.get(decision['exit_code'], ''))})",
        f"- Checks judged: {document['checks']['judged']} of {document['checks']['total']}"
        + (
            f"; not judged: {_md(', '.join(document['checks']['not_judged']))}"
            if document["checks"]["not_judged"]
            else ""
        ),
    ]
    if document.get("baseline") and document.get("post"):
        out.append(
            f"- BASELINE {_md(document['baseline']['start'])} to {_md(document['baseline']['end'])}; POST "
            f"{_md(document['post']['start'])} to {_md(document['post']['end'])} (half-open, UTC)"
            + (f"; flag flip {_md(document['flip'])}" if document.get("flip") else "")
        )
    out += [
        f"- Source: {_md(document['source'])}; snapshot {_md(str(document.get('snapshot')))}",
        f"- Confidence {document['confidence']:g}; seed {document['seed']}; "
        + ", ".join(f"{_md(k)} {_md(v)}" for k, v in document["versions"].items()),
        f"- Generated {_md(document['generated_at'])}",
        "- What PASS certifies: with at most 5 % risk at the target (90 % two-sided intervals, the PASS side's error spent "
        "across reruns of the same flip), the change from BASELINE to POST meets the goal on clustered data, and neither "
        "a trend already under way in BASELINE nor the split within one window explains it.",
    ]
    if document.get("change_record"):
        record = document["change_record"]
        out.append(f"- Change record: {_md(record['id'])}" + (f" <{_md(record['url'])}>" if record.get("url") else ""))
    if document.get("staging"):
        staging = document["staging"]
        out.append(
            f"- Promoted on staging evidence sha256 {_md(staging.get('sha256', ''))} generated {_md(staging.get('generated_at', ''))}"
            + (f", change record {_md(staging['change_record'])}" if staging.get("change_record") else "")
        )
    if document.get("forced"):
        out.append(f"- **Forced** without a passing staging run: {_md(document['forced'])}")
    out += [f"- {_md(note)}" for note in document["notes"]]
    if document["metrics"]:
        out += [
            "",
            "## Metrics",
            "",
            "| Metric | Unit | Baseline | Post | Delta | Verdict | n (baseline / post) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        verdicts = {g["id"]: g["verdict"].upper() for g in document["goals"]}
        for m in document["metrics"]:
            out.append(
                f"| {_md(m['metric'])} | {_md(m['unit'])} | {_md(m['shown']['baseline'])} | {_md(m['shown']['post'])} | "
                f"{_md(m['shown']['delta'])} | {verdicts.get(m['goal'] or '', '—')} | {m['n_baseline']:,} / {m['n_post']:,} |"
            )
    out += [
        "",
        "## Checks",
        "",
        "| Check | Kind | Verdict | Estimate | Interval | Target | Baseline | Post | Reason |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in document["goals"]:
        shown = g["shown"]
        interval = "n/a" if shown["interval"] is None else f"{shown['interval'][0]} to {shown['interval'][1]}"
        kind = g["kind"] + (" (advisory)" if g.get("advisory") else "")
        out.append(
            f"| {_md(g['id'])} | {kind} | **{g['verdict'].upper()}** | {_md(shown['estimate'])} | {_md(interval)} | "
            f"{_md(shown['target'])} | {_md(shown['baseline'])} | {_md(shown['post'])} | {_md(g['reason'])} |"
        )
    if document["excluded_rows"]:
        out += [
            "",
            "## Rows left out (counted, never used)",
            "",
            "| Measure | Window | Reason | Rows |",
            "| --- | --- | --- | --- |",
        ]
        out += [
            f"| {_md(e['measure'])} | {_md(e['window'])} | {_md(e['reason'])} | {e['rows']:,} |"
            for e in document["excluded_rows"]
        ]
    if history:
        out += [
            "",
            "## Earlier runs of this environment",
            "",
            "| Generated | Outcome | Checks judged | Change record |",
            "| --- | --- | --- | --- |",
        ]
        for earlier in history[-20:]:
            record = (
                (earlier.get("change_record") or {}).get("id", "")
                if isinstance(earlier.get("change_record"), dict)
                else ""
            )
            checks = earlier.get("checks") or {}
            if earlier.get("verdict") == "running":
                out.append(
                    f"| {_md(str(earlier.get('generated_at', '')))} | never finished (killed, or still running) | ? | |"
                )
                continue
            out.append(
                f"| {_md(str(earlier.get('generated_at', '')))} | {_md(str((earlier.get('decision') or {}).get('outcome', earlier.get('verdict', ''))))} | "
                f"{checks.get('judged', '?')} of {checks.get('total', '?')} | {_md(str(record))} |"
            )
    if document["queries"]:
        out += ["", "## Queries (one snapshot)", ""]
        out += [f"- `{q['name']}`: {q['rows']:,} rows in {q['seconds']:.3f} s" for q in document["queries"]]
    return "\n".join(out) + "\n"


def metrics_csv(document: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "unit", "window", "value", "n", "shown"])
    for m in document["metrics"]:
        for window in ("baseline", "post"):
            value = m[window]
            writer.writerow(
                [
                    m["metric"],
                    m["unit"],
                    window,
                    "" if value is None else repr(value),
                    m[f"n_{window}"],
                    m["shown"][window],
                ]
            )
    return buffer.getvalue()


def terminal_lines(decision: Decision, results: Sequence[GoalResult]) -> list[str]:
    """The terminal summary: the headline, what to do next, and the table."""
    lines = [
        terminal(decision.line()),
        f"next: {terminal(decision.next_step)} (exit {decision.exit_code}: {ACTIONS.get(decision.exit_code, '')})",
    ]
    if results:
        table = goal_table(results)
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines.append("")
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return lines


def combined_summary(reports_dir: Path) -> str | None:
    """``reports/summary.md``: every environment's current set side by side, with its outcome and time
    (forced overrides included), as the rollout document asks ("staging and prod separately")."""
    documents = []
    for path in sorted(reports_dir.glob("*/results.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("format") == FORMAT:
            documents.append(document)
    if not documents:
        return None
    order = {"staging": 0, "production": 1}
    documents.sort(key=lambda d: (order.get(str(d.get("env")), 2), str(d.get("env"))))
    out = ["# sprintgate: all environments", ""]
    for d in documents:
        record = f", change record {_md(d['change_record']['id'])}" if d.get("change_record") else ""
        forced = f", **forced**: {_md(d['forced'])}" if d.get("forced") else ""
        out.append(
            f"- {_md(d['env'])}: **{_md(d['decision']['headline'])}** (generated {_md(d['generated_at'])}{record}{forced})"
        )
    labels = list(dict.fromkeys(m["metric"] for d in documents for m in d.get("metrics", [])))
    if labels:
        envs = [_md(d["env"]) for d in documents]
        out += [
            "",
            "| Metric | " + " | ".join(f"{e} baseline | {e} post | {e} delta | {e} n" for e in envs) + " |",
            "| --- |" + " --- | --- | --- | --- |" * len(envs),
        ]
        for label in labels:
            cells = []
            for d in documents:
                row = next((m for m in d.get("metrics", []) if m["metric"] == label), None)
                if row is None:
                    cells += ["n/a"] * 4
                else:
                    cells += [
                        _md(row["shown"]["baseline"]),
                        _md(row["shown"]["post"]),
                        _md(row["shown"]["delta"]),
                        f"{row['n_baseline']:,} / {row['n_post']:,}",
                    ]
            out.append(f"| {_md(label)} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
