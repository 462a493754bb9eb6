"""Reports of one run in ``reports/<env>/``: ``results.json`` for machines, ``summary.md`` for people
and change records, ``metrics.csv`` for spreadsheets. All three come from the same numbers and are
written atomically: a crash never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sprintgate import contract
from sprintgate.evidence import Evidence, WindowEvidence
from sprintgate.gate import RunInfo
from sprintgate.goals import observed_quantile
from sprintgate.results import GoalResult
from sprintgate.verdict import Verdict
from sprintgate.windows import Window


def overall_verdict(results: Sequence[GoalResult], unjudged: int) -> str:
    """``error`` (a goal left unjudged, or no result at all) beats ``fail`` beats ``inconclusive``
    beats ``pass``."""
    if unjudged or not results:
        return "error"
    verdicts = {r.verdict for r in results}
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        if verdict in verdicts:
            return verdict.value
    return Verdict.PASS.value


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One row of the rollout document's metric table."""

    metric: str
    unit: str  # ms | count | rate
    baseline: float | None
    post: float | None
    n_baseline: int
    n_post: int
    goal: str | None = None


def _quantile(window: WindowEvidence, measure: str, q: float) -> tuple[float | None, int]:
    observed = observed_quantile(window, measure, q)
    return observed.value, observed.n


def metric_rows(evidence: Evidence) -> list[MetricRow]:
    """The rows of the template in the rollout document, plus the sample behind each number."""

    def both(read: Callable[[WindowEvidence], tuple[float | None, int]]) -> tuple[float | None, float | None, int, int]:
        (b, nb), (p, np_) = read(evidence.baseline), read(evidence.post)
        return b, p, nb, np_

    def attempts(w: WindowEvidence, q: float | None) -> tuple[float | None, int]:
        h = w.attempts_per_booking
        if not h.n:
            return None, 0
        return (h.moments().mean if q is None else h.quantile(q)), h.n

    rows = [
        MetricRow(
            "Planner p95 (ms)",
            "ms",
            *both(lambda w: _quantile(w, "planner_duration", 0.95)),
            goal="planner_p95_reduction",
        ),
        MetricRow("Planner p99 (ms)", "ms", *both(lambda w: _quantile(w, "planner_duration", 0.99))),
        MetricRow(
            "Avg attempts / booking", "count", *both(lambda w: attempts(w, None)), goal="attempts_per_booking_reduction"
        ),
        MetricRow("Attempt p95", "count", *both(lambda w: attempts(w, 0.95))),
        MetricRow(
            "Inline timeout %",
            "rate",
            *both(lambda w: (w.inline_timeout.rate, w.inline_timeout.n)),
            goal="inline_timeout_rate",
        ),
        MetricRow(
            "Inline duration p95 (ms)",
            "ms",
            *both(lambda w: _quantile(w, "inline_duration", 0.95)),
            goal="inline_p95_budget",
        ),
        MetricRow(
            "Background job P95 ms",
            "ms",
            *both(lambda w: _quantile(w, "job_duration", 0.95)),
            goal="job_duration_halved",
        ),
        MetricRow(
            "Job success rate", "rate", *both(lambda w: (w.job_success.rate, w.job_success.n)), goal="job_success_rate"
        ),
        MetricRow(
            "Quote error %", "rate", *both(lambda w: (w.quote_error.rate, w.quote_error.n)), goal="quote_error_rate"
        ),
        MetricRow("Cache hit %", "rate", *both(lambda w: (w.cache_hit.rate, w.cache_hit.n)), goal="cache_hit_ceiling"),
    ]
    reasons = sorted(set(evidence.baseline.cache_hit_by_reason) | set(evidence.post.cache_hit_by_reason))
    for reason in reasons:

        def by_reason(w: WindowEvidence, reason: str = reason) -> tuple[float | None, int]:
            p = w.cache_hit_by_reason.get(reason)
            return (None, 0) if p is None else (p.rate, p.n)

        rows.append(MetricRow(f"Cache hit % ({reason})", "rate", *both(by_reason)))
    return rows


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "rate":
        return f"{100 * value:.2f} %"
    if unit == "ms":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _delta(row: MetricRow) -> str:
    if row.baseline is None or row.post is None:
        return "n/a"
    if row.unit == "rate":
        return f"{100 * (row.post - row.baseline):+.2f} pp"
    if row.baseline == 0:
        return "n/a"
    return f"{100 * (row.post / row.baseline - 1):+.1f} %"


def _interval(result: GoalResult) -> str:
    if result.interval is None:
        return "n/a"
    return f"[{result.interval.low:.4g}, {result.interval.high:.4g}] at {result.interval.level:.0%}"


def summary_markdown(info: RunInfo, evidence: Evidence, results: Sequence[GoalResult], verdict: str) -> str:
    by_goal = {r.goal: r for r in results}
    out = [
        f"# sprintgate: {info.env}",
        "",
        f"- Verdict: **{verdict.upper()}**",
        f"- BASELINE: {evidence.baseline.window}; POST: {evidence.post.window} (half-open, UTC)"
        + (f"; flag flip {info.flip}" if info.flip else ""),
        f"- Source: {info.source}",
        f"- Confidence: {info.confidence:g}; seed {info.seed}; "
        + ", ".join(f"{k} {v}" for k, v in info.versions.items()),
        f"- Generated: {info.generated_at.isoformat(timespec='seconds')}",
        *(
            [
                f"- Change record: {info.change_record}"
                + (f" <{info.change_record_url}>" if info.change_record_url else "")
            ]
            if info.change_record
            else []
        ),
        *([f"- **Forced** without a passing staging run: {info.forced}"] if info.forced else []),
        *[f"- {note}" for note in info.notes],
        "",
        f"## Metrics ({info.env})",
        "",
        "| Metric | Baseline | Post-opt | Delta | Verdict | Interval | n (baseline / post) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in metric_rows(evidence):
        result = by_goal.get(row.goal or "")
        verdict_cell = result.verdict.value.upper() if result else "—"
        interval_cell = _interval(result) if result else "—"
        out.append(
            f"| {row.metric} | {_value(row.baseline, row.unit)} | {_value(row.post, row.unit)} | {_delta(row)} "
            f"| {verdict_cell} | {interval_cell} | {row.n_baseline:,} / {row.n_post:,} |"
        )
    out += [
        "",
        "## Goals",
        "",
        "| Goal | Kind | Verdict | Estimate | Interval | Target | Reason |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        estimate = "n/a" if r.estimate is None else f"{r.estimate:.4g}"
        out.append(
            f"| {r.goal} | {r.kind.value} | {r.verdict.value.upper()} | {estimate} | {_interval(r)} | "
            f"{'n/a' if r.target is None else f'{r.target:g}'} | {r.reason.replace('|', '/')} |"
        )
    excluded = _excluded_table(evidence)
    if excluded:
        out += [
            "",
            "## Excluded rows (malformed telemetry, counted and left out)",
            "",
            "| Measure | Window | Reason | Rows |",
            "| --- | --- | --- | --- |",
        ]
        out += [f"| {m} | {w} | {reason} | {n:,} |" for m, w, reason, n in excluded]
    out += ["", "## Queries", ""]
    for label, window in (("BASELINE", evidence.baseline), ("POST", evidence.post)):
        for q in window.queries:
            out.append(f"- {label} `{q.name}`: {q.rows:,} rows in {q.seconds:.3f} s")
    return "\n".join(out) + "\n"


def _excluded_table(evidence: Evidence) -> list[tuple[str, str, str, int]]:
    rows: list[tuple[str, str, str, int]] = []
    for label, window in (("BASELINE", evidence.baseline), ("POST", evidence.post)):
        for measure, reasons in window.excluded.items():
            rows.extend((measure, label, reason, n) for reason, n in sorted(reasons.items()))
    return rows


def results_document(info: RunInfo, evidence: Evidence, results: Sequence[GoalResult], verdict: str) -> dict[str, Any]:
    return {
        "env": info.env,
        "generated_at": info.generated_at.isoformat(),
        "source": info.source,
        "baseline": _window(evidence.baseline.window),
        "post": _window(evidence.post.window),
        "flip": info.flip,
        "flags": list(contract.FLAG_NAMES),
        "change_record": None
        if info.change_record is None
        else {"id": info.change_record, "url": info.change_record_url},
        "forced": info.forced,
        "notes": list(info.notes),
        "confidence": info.confidence,
        "seed": info.seed,
        "versions": dict(info.versions),
        "verdict": verdict,
        "goals": [r.to_dict() for r in results],
        "metrics": [
            {
                "metric": r.metric,
                "unit": r.unit,
                "goal": r.goal,
                "baseline": r.baseline,
                "post": r.post,
                "n_baseline": r.n_baseline,
                "n_post": r.n_post,
            }
            for r in metric_rows(evidence)
        ],
        "excluded_rows": [
            {"measure": m, "window": w, "reason": r, "rows": n} for m, w, r, n in _excluded_table(evidence)
        ],
        "queries": [
            {"window": label, "name": q.name, "parameters": dict(q.parameters), "seconds": q.seconds, "rows": q.rows}
            for label, window in (("BASELINE", evidence.baseline), ("POST", evidence.post))
            for q in window.queries
        ],
    }


def _window(window: Window) -> dict[str, str]:
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


def metrics_csv(evidence: Evidence) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "window", "value", "n", "unit"])
    for row in metric_rows(evidence):
        writer.writerow(
            [row.metric, "baseline", "" if row.baseline is None else repr(row.baseline), row.n_baseline, row.unit]
        )
        writer.writerow([row.metric, "post", "" if row.post is None else repr(row.post), row.n_post, row.unit])
    return buffer.getvalue()


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(
    directory: Path,
    info: RunInfo,
    evidence: Evidence,
    results: Sequence[GoalResult],
    verdict: str,
    scrub: Callable[[str], str] = lambda text: text,
) -> Mapping[str, Path]:
    """Write the three reports of one run; returns their paths."""
    documents = {
        "results.json": json.dumps(results_document(info, evidence, results, verdict), indent=2) + "\n",
        "summary.md": summary_markdown(info, evidence, results, verdict),
        "metrics.csv": metrics_csv(evidence),
    }
    paths = {}
    for name, text in documents.items():
        paths[name] = directory / name
        write_atomically(paths[name], scrub(text))
    return paths


def combined_summary(reports_dir: Path) -> str | None:
    """``reports/summary.md``: the metric table of every environment that has results, side by side,
    as the rollout document asks ("fill in numbers for staging and prod separately")."""
    documents = []
    for path in sorted(reports_dir.glob("*/results.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("metrics"):
            documents.append(document)
    if not documents:
        return None
    order = {"staging": 0, "production": 1}
    documents.sort(key=lambda d: (order.get(d["env"], 2), d["env"]))
    envs = [d["env"] for d in documents]
    out = ["# sprintgate: all environments", ""]
    for d in documents:
        record = f", change record {d['change_record']['id']}" if d.get("change_record") else ""
        out.append(
            f"- {d['env']}: **{d['verdict'].upper()}**, BASELINE {d['baseline']['start']} to {d['baseline']['end']}, "
            f"POST {d['post']['start']} to {d['post']['end']}, generated {d['generated_at']}{record}"
        )
    header = "| Metric | " + " | ".join(f"{e} baseline | {e} post-opt | {e} delta | {e} n" for e in envs) + " |"
    out += ["", header, "| --- |" + " --- | --- | --- | --- |" * len(envs)]
    metrics = [m["metric"] for m in documents[0]["metrics"]]
    for name in metrics:
        cells = []
        for d in documents:
            row = next((m for m in d["metrics"] if m["metric"] == name), None)
            if row is None:
                cells += ["n/a"] * 4
                continue
            metric = MetricRow(
                row["metric"], row["unit"], row["baseline"], row["post"], row["n_baseline"], row["n_post"]
            )
            cells += [
                _value(metric.baseline, metric.unit),
                _value(metric.post, metric.unit),
                _delta(metric),
                f"{metric.n_baseline:,} / {metric.n_post:,}",
            ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
