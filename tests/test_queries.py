"""The named SQL files: headers, parameters that match what the code binds, and exact aggregates."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from sprintgate import contract
from sprintgate.evidence import fetch_evidence, fetch_run_evidence
from sprintgate.gate import find_flip, index_advice
from sprintgate.queries import Query, load_query, query_names
from sprintgate.server import ThrowawayServer
from sprintgate.synthetic import load_scenario
from sprintgate.windows import Window

Database = Callable[[str], psycopg.Connection[Any]]


@pytest.fixture(scope="module")
def bound(pg_server: ThrowawayServer, scenario_template: Callable[[str], str]) -> dict[str, set[str]]:
    """Every query the gate binds while it fetches a run (windows from --flip=auto), with its parameters."""
    seen: dict[str, set[str]] = {}
    original = Query.bind

    def recording(self: Query, params: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        seen[self.name] = set(params)
        return original(self, params)

    with (
        pytest.MonkeyPatch.context() as patch,
        psycopg.connect(pg_server.conninfo(scenario_template("rollout_met"))) as connection,
    ):
        patch.setattr(Query, "bind", recording)
        scenario = load_scenario("rollout_met")
        flip = find_flip(connection, Window(scenario.baseline_window.start, scenario.post_window.end))
        assert flip is not None
        index_advice(connection)
        fetch_run_evidence(connection, scenario.baseline_window, scenario.post_window)
    return seen


class TestQueryFiles:
    def test_every_file_is_run_by_the_gate(self, bound: dict[str, set[str]]) -> None:
        """Each sql/ file is one the gate runs, and the gate runs no query without a file."""
        assert set(query_names()) == set(bound)

    @pytest.mark.parametrize("name", query_names())
    def test_parameters_equal_what_the_code_binds(self, name: str, bound: dict[str, set[str]]) -> None:
        """A file's :named parameters are exactly those the code passes."""
        assert load_query(name).parameters == bound[name]

    @pytest.mark.parametrize("name", query_names())
    def test_header_says_what_a_row_is_and_names_every_parameter(self, name: str) -> None:
        """The header comment names the query, says what one row is, and mentions each parameter."""
        query = load_query(name)
        assert query.header.startswith(f"name: {name}")
        assert "row" in query.header.lower()
        for parameter in query.parameters:
            assert f":{parameter}" in query.header

    def test_binding_refuses_missing_or_extra_parameters(self) -> None:
        """Binding with the wrong parameter set fails loudly instead of running a different query."""
        with pytest.raises(ValueError, match="takes"):
            load_query("attempts_per_booking").bind({"start": 1})

    def test_casts_are_not_parameters(self) -> None:
        """``::float8`` casts are left alone by the parameter parser."""
        text, _ = load_query("window_evidence").bind(
            {"start": 0, "middle": 0, "end": 0, "event_types": [], "max_duration_ms": 1.0}
        )
        assert "::float8" in text
        assert "%(start)s" in text
        assert ":start" not in text


def _insert(
    connection: psycopg.Connection[Any], rows: Sequence[tuple[str, datetime, dict[str, Any] | str, str | None]]
) -> None:
    """Insert events; a context given as a string is inserted as that JSON text (for what Python's json
    module cannot write, like 1e400)."""
    with connection.cursor() as cursor:
        for i, (event_type, at, context, booking) in enumerate(rows):
            text = context if isinstance(context, str) else json.dumps(context)
            cursor.execute(
                "insert into observability_events (id, created_at, event_type, booking_id, context) values (%s, %s, %s, %s, %s)",
                (f"00000000-0000-4000-8000-{i:012x}", at, event_type, booking, text),
            )


START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=7))


class TestWindowEvidence:
    def test_histogram_quantiles_match_percentile_disc(self, database: Database) -> None:
        """p50/p95/p99 from the SQL histogram are within 0.1 % of PostgreSQL's exact percentile_disc."""
        connection = database("rollout_met")
        window = load_scenario("rollout_met").baseline_window
        evidence = fetch_evidence(connection, window)
        for q in (0.5, 0.95, 0.99):
            exact = connection.execute(
                "select percentile_disc(%s) within group (order by (context->>'planner_duration_ms')::float8) "
                "from observability_events where event_type = 'auto_assign.quote' and created_at >= %s and created_at < %s",
                (q, window.start, window.end),
            ).fetchone()
            assert exact is not None
            assert evidence.durations["planner_duration"].quantile(q) == pytest.approx(exact[0], rel=1e-3)

    def test_dirty_values_are_counted_and_excluded(self, database: Database) -> None:
        """Each kind of malformed value is counted under its reason and left out of the histogram."""
        connection = database("empty")
        at = START + timedelta(hours=1)
        _insert(
            connection,
            [
                ("auto_assign.quote", at, {"planner_duration_ms": 100, "cache_hit": False}, None),
                ("auto_assign.quote", at, {"planner_duration_ms": "100", "cache_hit": "yes"}, None),
                ("auto_assign.quote", at, {"cache_hit": True, "error": 500}, None),
                ("auto_assign.quote", at, {"planner_duration_ms": -5, "cache_hit": False, "error": "boom"}, None),
                ("auto_assign.quote", at, {"planner_duration_ms": 1e12, "cache_hit": False, "flags": "on"}, None),
                # Valid JSON numbers beyond float8: absurd, negative, and a duration of (almost) 0.
                ("auto_assign.quote", at, '{"planner_duration_ms": 1e400, "cache_hit": false}', None),
                ("auto_assign.quote", at, '{"planner_duration_ms": -1e400, "cache_hit": false}', None),
                ("auto_assign.quote", at, '{"planner_duration_ms": 1e-400, "cache_hit": false}', None),
                ("auto_assign.attempt", at, {"attempt": 1}, None),
                ("inline_auto_assign.timeout", at, {"duration_ms": None}, None),
                (
                    "inline_auto_assign.succeeded",
                    START - timedelta(seconds=1),
                    {"duration_ms": 5},
                    None,
                ),  # before the window
                ("inline_auto_assign.succeeded", WINDOW.end, {"duration_ms": 5}, None),  # end is exclusive
            ],
        )
        evidence = fetch_evidence(connection, WINDOW)
        assert evidence.durations["planner_duration"].n == 2
        assert evidence.durations["planner_duration"].quantile(0.0) == pytest.approx(0.001, rel=1e-3)
        assert evidence.excluded["planner_duration"] == {"not_a_number": 1, "missing": 1, "negative": 2, "absurd": 2}
        assert evidence.excluded["cache_hit"] == {"cache_hit_not_boolean": 1}
        assert evidence.excluded["quote_error"] == {"error_not_text": 1}
        assert evidence.excluded["flags"] == {"flags_malformed": 1}
        assert evidence.excluded["attempts_per_booking"] == {"no_booking": 1}
        assert evidence.excluded["inline_duration"] == {"missing": 1}  # JSON null counts as missing
        assert evidence.quote_error.hits == 1
        assert evidence.quote_error.n == 7
        assert evidence.cache_hit.hits == 1
        assert evidence.cache_hit.n == 7
        assert evidence.inline_timeout.hits == 1
        assert evidence.inline_timeout.n == 1
        assert evidence.attempts_per_booking.n == 0

    def test_attempts_are_counted_per_booking(self, database: Database) -> None:
        """Attempt rows are grouped by booking_id: n, mean and variance are those of the per-booking counts."""
        connection = database("empty")
        counts = [1, 1, 2, 3, 5, 8]
        rows = []
        for booking, count in enumerate(counts):
            rows += [
                (
                    "auto_assign.attempt",
                    START + timedelta(minutes=booking),
                    {"attempt": k + 1},
                    f"10000000-0000-4000-8000-{booking:012x}",
                )
                for k in range(count)
            ]
        _insert(connection, rows)
        moments = fetch_evidence(connection, WINDOW).attempts_per_booking.moments()
        assert moments.n == len(counts)
        assert moments.mean == pytest.approx(float(np.mean(counts)))
        assert math.isclose(moments.variance, float(np.var(counts, ddof=1)))

    def test_an_empty_window_is_evidence_of_nothing(self, database: Database) -> None:
        """A window without events gives zero counts and no timestamps, not an error."""
        evidence = fetch_evidence(database("empty"), WINDOW)
        assert evidence.count(*contract.EVENT_TYPES) == 0
        assert evidence.first_at is None
        assert evidence.durations["planner_duration"].n == 0
