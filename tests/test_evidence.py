"""The compiled evidence pass: declared measures become one bound query, every row is classified and
counted, one snapshot is read, and nothing a suite declares is ever pasted into the SQL text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import psycopg
import pytest

from goals.rollout import SUITE
from sprintgate import compiler
from sprintgate.config import resolve
from sprintgate.evidence import Evidence
from sprintgate.kinds import Reads
from sprintgate.measures import Duration, FieldTrue, Rate
from sprintgate.source import TelemetrySource
from sprintgate.suite import Suite
from tests.suite import GOALS, windows

Database = Callable[[str], psycopg.Connection[Any]]


def _reads(suite: Suite = SUITE) -> list[Reads]:
    return [g.metric.reads() for g in GOALS] + [row.metric.reads() for row in suite.report]


def _fetch(
    connection: psycopg.Connection[Any],
    scenario: str = "rollout_met",
    suite: Suite = SUITE,
    reads: list[Reads] | None = None,
) -> Evidence:
    info = connection.info
    settings = resolve({}, {"env": "staging", **windows(scenario)})
    environ = {"STAGING_DATABASE_URL": f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"}
    return TelemetrySource(settings, suite, environ).fetch(reads if reads is not None else _reads(suite))


class TestCompiledQuery:
    def test_no_declared_text_is_pasted_into_the_sql(self, database: Database) -> None:
        """Event types, JSON keys, flag names, thresholds and values are all bound parameters."""
        evidence = _fetch(database("rollout_met"))
        texts = "\n".join(
            line for q in evidence.queries for line in q.text.splitlines() if not line.lstrip().startswith("--")
        )
        declared = {e for g in GOALS for types in g.metric.needs().values() for e in types}
        declared |= set(SUITE.flags) | {
            "planner_duration_ms",
            "duration_ms",
            "cache_hit",
            "error",
            "reasonCode",
            "hard.no_capacity",
        }
        assert not [text for text in declared if text in texts]

    def test_every_declared_measure_is_measured(self, database: Database) -> None:
        """On the met rollout every measure a goal or row reads has values in the windows it needs."""
        evidence = _fetch(database("rollout_met"))
        for window in (evidence.baseline, evidence.post):
            assert all(cells.n > 0 for cells in window.durations.values())
            assert all(
                cells.n.sum() > 0
                for name, cells in window.rates.items()
                if name != "cache_hit" or window is evidence.post
            )
            assert all(cells.n > 0 for cells in window.units.values())

    def test_hostile_declarations_stay_data(self, database: Database) -> None:
        """Names crafted to break out of a string or a JSON path only ever match nothing."""
        evil = "x'); drop table observability_events; --"
        suite = replace(SUITE, flags=(*SUITE.flags, 'A"}, "B": {'), demand=(evil, *SUITE.demand))
        measure = Duration("evil", events=(evil,), field="p' || pg_sleep(5) || '")
        rate = Rate("evil_rate", events=(evil,), hit=FieldTrue('a"; select 1; --'))
        connection = database("rollout_met")
        evidence = _fetch(connection, suite=suite, reads=[Reads(durations=(measure,), rates=(rate,))])
        assert evidence.post.durations["evil"].n == 0
        assert connection.execute("select count(*) from observability_events").fetchone()[0] > 0  # type: ignore[index]

    def test_parameters_match_what_the_query_uses(self) -> None:
        """The compiled text's :named parameters are exactly the ones bound (a test of the compiler itself)."""
        from sprintgate.windows import Window  # noqa: PLC0415

        base, post = (Window.parse(w) for w in windows("rollout_met").values())
        merged = _reads()
        plan = compiler.plan(
            SUITE,
            durations=[m for r in merged for m in r.durations],
            rates=[m for r in merged for m in r.rates],
            units=[m for r in merged for m in r.units],
            categories=[c for r in merged for c in r.categories],
            budgets={k: v for r in merged for k, v in r.budgets.items()},
            windows=(base, post),
            layout=compiler.Layout.of((base, post), 12, 16),
        )
        for query, params in (compiler.evidence_query(plan), compiler.units_query(plan), compiler.demand_query(plan)):  # type: ignore[misc]
            assert query.parameters == frozenset(params)
            assert query.header.startswith(f"name: {query.name}")


class TestDirtyValues:
    ROWS: ClassVar[list[tuple[str, str, str]]] = [
        ("auto_assign.quote", '{"planner_duration_ms": 1e400, "cache_hit": false}', "absurd"),
        ("auto_assign.quote", '{"planner_duration_ms": -1e400, "cache_hit": false}', "negative"),
        ("auto_assign.quote", '{"planner_duration_ms": "123", "cache_hit": false}', "not_a_number"),
        ("auto_assign.quote", '{"planner_duration_ms": null, "cache_hit": false}', "missing"),
        ("auto_assign.quote", '{"cache_hit": false}', "missing"),
        ("auto_assign.quote", "[1, 2]", "context_not_object"),
        ("auto_assign.quote", '"text"', "context_not_object"),
    ]

    def test_every_malformed_value_is_counted_under_its_reason(self, database: Database) -> None:
        """Each kind of damage is excluded from the measure under its own reason; 1e-400 is a valid duration."""
        connection = database("rollout_met")
        clean = _fetch(connection).post
        for event, context, _ in self.ROWS:
            connection.execute(
                "insert into observability_events (id, created_at, event_type, context) values (gen_random_uuid(), '2026-10-12T12:00:00Z', %s, %s::jsonb)",
                (event, context),
            )
        connection.execute(
            'insert into observability_events (id, created_at, event_type, context) values (gen_random_uuid(), \'2026-10-12T12:00:00Z\', \'auto_assign.quote\', \'{"planner_duration_ms": 1e-400, "cache_hit": "yes", "error": 500}\')'
        )
        post = _fetch(connection).post
        excluded = post.excluded["planner_duration"]
        for reason in ("absurd", "negative", "not_a_number", "context_not_object"):
            assert excluded[reason] - clean.excluded.get("planner_duration", {}).get(reason, 0) >= 1
        assert excluded["missing"] - clean.excluded.get("planner_duration", {}).get("missing", 0) == 2
        assert post.durations["planner_duration"].n == clean.durations["planner_duration"].n + 1
        assert post.excluded["cache_hit"]["cache_hit_wrong_type"] >= 1
        assert post.excluded["quote_error"]["error_wrong_type"] >= 1

    def test_every_flag_state_is_told_apart(self, database: Database) -> None:
        """A flags object that misses a flag but whose others are booleans is mixed; one without any
        declared flag, or with a non-boolean one, is malformed; a flags value that is no object too."""
        connection = database("rollout_met")
        clean = _fetch(connection).post.flags
        first, second = SUITE.flags
        contexts = {
            f'{{"flags": {{"{first}": true}}}}': "mixed",
            f'{{"flags": {{"{first}": true, "{second}": false}}}}': "mixed",
            f'{{"flags": {{"{first}": true, "{second}": "yes"}}}}': "malformed",
            '{"flags": {}}': "malformed",
            '{"flags": [true]}': "malformed",
            '{"other": 1}': "absent",
        }
        for context in contexts:
            connection.execute(
                "insert into observability_events (id, created_at, event_type, context) "
                "values (gen_random_uuid(), '2026-10-12T12:00:00Z', 'auto_assign.quote', %s::jsonb)",
                (context,),
            )
        found = _fetch(connection).post.flags
        added = {state: found.get(state, 0) - clean.get(state, 0) for state in found}
        expected: dict[str, int] = {}
        for state in contexts.values():
            expected[state] = expected.get(state, 0) + 1
        assert {k: v for k, v in added.items() if v} == expected


class TestOneSnapshot:
    def test_rows_committed_mid_run_are_read_by_no_query(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """5,000 demand events committed into BASELINE after the evidence pass are seen by no later query."""
        from sprintgate import source  # noqa: PLC0415

        connection = database("rollout_met")
        original = source._Reader.arrays
        done: list[bool] = []

        def arrays(self: Any, query: Any, params: Any) -> Any:
            found = original(self, query, params)
            if query.name == "evidence" and not done:
                done.append(True)
                connection.execute(
                    "insert into observability_events (id, created_at, event_type, context, restaurant_id) "
                    "select gen_random_uuid(), '2026-10-03T12:00:00Z', 'auto_assign.succeeded', '{\"duration_ms\": 5}', null "
                    "from generate_series(1, 5000)"
                )
            return found

        monkeypatch.setattr(source._Reader, "arrays", arrays)
        evidence = _fetch(connection)
        assert done
        demand = int(evidence.baseline.demand_by_hour.sum())
        assert demand == evidence.baseline.count(*SUITE.demand)
