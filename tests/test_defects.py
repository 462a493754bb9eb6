"""The false PASSes the first version gave on real-looking telemetry, each as a small end-to-end case:
rows written to a real PostgreSQL, the whole suite judged by a run, the verdict read from its result.

- durations recorded at exactly the budget (timeouts) must not pass a budget goal;
- two bookings of zero spread are no evidence for a mean per unit;
- durations on a 100 ms grid with the true p95 ratio exactly at the target must not pass;
- the power hint reads the PASS side of the interval for a higher-is-better goal.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from sprintgate import Duration, Goal, MeanRatio, PerUnit, QuantileBudget, QuantileRatio, Suite, Verdict, Window
from sprintgate.config import resolve
from sprintgate.fixturedb import create_schema, load_rows
from sprintgate.kinds.power import power_hint
from sprintgate.results import GoalResult
from sprintgate.run import Run
from sprintgate.server import ThrowawayServer
from sprintgate.verdict import Better, Interval

SERVED = "svc.served"
ATTEMPT = "svc.attempt"
LATENCY = Duration("latency", events=(SERVED,), field="latency_ms")
ATTEMPTS = PerUnit("attempts_per_request", events=(ATTEMPT,), unit="request_id", counts="attempts")
SUITE = Suite(
    name="Service: FAST",
    flags=("FAST",),
    rollback="turn FAST off",
    demand=(SERVED,),
    columns={"request_id": "uuid"},
)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
BASELINE = Window(START, START + timedelta(days=7))
POST = Window(START + timedelta(days=8), START + timedelta(days=15))
_names = itertools.count()

Rows = Callable[[Iterable[tuple[Any, ...]], list[Goal]], GoalResult]


def _served(window: Window, values: list[float], *, on: bool) -> Iterator[tuple[Any, ...]]:
    """``values`` in a fixed random order as served events spread evenly over ``window``, then an
    hour and a half of the same after it (so the window is complete: late events have arrived)."""
    shuffled = list(values)
    random.Random(len(values)).shuffle(shuffled)
    step = window.length / len(shuffled)
    for i, value in enumerate([*shuffled, *shuffled[: len(shuffled) // 100]]):
        at = window.start + step * (i + 0.5)
        yield (str(uuid.uuid4()), at, SERVED, {"latency_ms": value, "flags": {"FAST": on}}, None)


@pytest.fixture
def judge(pg_server: ThrowawayServer, tmp_path: Path) -> Iterator[Rows]:
    """Loads rows into a fresh database and returns the verdict of the first goal, judged by a run
    of the whole suite (preconditions included) as ``--env staging``."""
    janitors: list[DatabaseJanitor] = []

    def run(rows: Iterable[tuple[Any, ...]], goals: list[Goal]) -> GoalResult:
        janitor = DatabaseJanitor(
            user=pg_server.user,
            host=pg_server.host,
            port=pg_server.port,
            dbname=f"defect_{next(_names)}",
            password=None,
        )
        janitor.init()
        janitors.append(janitor)
        with psycopg.connect(pg_server.conninfo(janitor.dbname), autocommit=True) as connection:
            create_schema(connection, SUITE)
            load_rows(connection, SUITE, rows)
        settings = resolve(
            {}, {"env": "staging", "baseline": str(BASELINE), "post": str(POST), "reports_dir": str(tmp_path / "r")}
        )
        dsn = f"host={pg_server.host} port={pg_server.port} user={pg_server.user} dbname={janitor.dbname}"
        gate = Run(settings=settings, suite=SUITE, root=tmp_path, environ={"STAGING_DATABASE_URL": dsn}, say=print)
        for goal in goals:
            gate.declare(goal, tmp_path / f"test_{goal.id}.py")
        gate.prepare(set(gate.declared), None)
        gate.open()
        try:
            return gate.result(goals[0].id)
        finally:
            gate.close()

    yield run
    for janitor in janitors:
        janitor.drop()


def _spread(low: float, high: float, count: int) -> list[float]:
    return [round(low + (high - low) * (i + 0.5) / count, 1) for i in range(count)]


class TestFalsePassesOfTheFirstVersion:
    def test_timeouts_recorded_at_the_budget_do_not_pass_it(self, judge: Rows) -> None:
        """7 % of POST's runs time out and are recorded at exactly 2000.0 ms: the p95 is 2000.0, the
        share strictly under the budget is 93 %, so "p95 within 2000 ms" is missed, not passed."""
        base = _spread(300, 1900, 9_000) + [2000.0] * 1_000
        post = _spread(200, 1500, 9_300) + [2000.0] * 700
        goal = Goal(id="budget", metric=QuantileBudget(LATENCY, q=0.95, below="2000ms"))
        result = judge([*_served(BASELINE, base, on=False), *_served(POST, post, on=True)], [goal])
        assert result.verdict is Verdict.FAIL, result.reason
        assert result.details["share_under_budget"] == pytest.approx(0.93)

    def test_two_bookings_of_zero_spread_are_no_evidence(self, judge: Rows) -> None:
        """Two requests of 2 attempts each, then two of 1: a ratio of 0.5 with no spread at all is
        INCONCLUSIVE (too few units), never a point interval that PASSes."""
        rows: list[tuple[Any, ...]] = [*_served(BASELINE, _spread(100, 200, 400), on=False)]
        rows += _served(POST, _spread(100, 200, 400), on=True)
        for window, attempts, on in ((BASELINE, 2, False), (POST, 1, True)):
            for r in range(2):
                request = str(uuid.uuid4())
                for a in range(attempts):
                    at = window.start + timedelta(days=1 + 2 * r, minutes=a)
                    rows.append((str(uuid.uuid4()), at, ATTEMPT, {"flags": {"FAST": on}}, request))
        goal = Goal(id="attempts", metric=MeanRatio(ATTEMPTS, at_most=0.6))
        result = judge(rows, [goal])
        assert result.verdict is Verdict.INCONCLUSIVE
        assert result.reason_code in {"insufficient_sample", "zero_spread"}
        assert result.interval is None

    def test_a_100_ms_grid_at_exactly_the_target_ratio_does_not_pass(self, judge: Rows) -> None:
        """Durations on a 100 ms grid with p95 exactly 1000 ms, then exactly 700 ms: the true ratio is
        the target 0.70; bucket rounding must not turn that into a PASS."""
        base = [float(100 * (1 + i % 9)) for i in range(9_400)] + [1000.0] * 400 + [1500.0] * 200
        post = [float(100 * (1 + i % 6)) for i in range(9_400)] + [700.0] * 400 + [1100.0] * 200
        goal = Goal(id="ratio", metric=QuantileRatio(LATENCY, q=0.95, at_most=0.70))
        result = judge([*_served(BASELINE, base, on=False), *_served(POST, post, on=True)], [goal])
        assert result.baseline.value == pytest.approx(1000.0, rel=0.01)  # read from its 1 % bucket
        assert result.post.value == pytest.approx(700.0, rel=0.01)
        assert result.verdict is not Verdict.PASS, result.reason


class TestTheHint:
    def test_a_higher_is_better_goal_reads_the_lower_end(self) -> None:
        """For "at least 0.82" the PASS side is the lower end: its distance from the estimate sets the
        standard error, whatever the upper end says."""
        interval = Interval(0.80, 0.95, low_confidence=0.95, high_confidence=0.95)
        hint = power_hint(
            estimate=0.85,
            interval=interval,
            target=0.82,
            better=Better.HIGHER,
            log_scale=False,
            n=1000,
            next_alpha=0.05,
        )
        mirrored = power_hint(
            estimate=0.85,
            interval=Interval(0.75, 0.90, low_confidence=0.95, high_confidence=0.95),
            target=0.82,
            better=Better.HIGHER,
            log_scale=False,
            n=1000,
            next_alpha=0.05,
        )
        # The error is (0.85 - 0.80) / 1.645; 80 % power at 5 % puts the target 2.49 errors below.
        expected = ((1.6449 + 0.8416) * (0.05 / 1.6449) / 0.03) ** 2
        assert hint.more_events == pytest.approx(1000 * expected - 1000, abs=2)
        assert mirrored.more_events is not None
        assert hint.more_events is not None
        assert mirrored.more_events > 2 * hint.more_events
