"""Named SQL queries: one ``.sql`` file each in ``sql/``, with ``:named`` parameters.

A file starts with ``-- name: <file stem>`` and a header comment that says what one row is and which
parameters it takes. Values are always bound by the driver, never formatted into the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sprintgate.resources import resource_dir

# A `:name` that is not part of a `::type` cast.
_PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True, slots=True)
class Query:
    """One named query as it stands in its file."""

    name: str
    text: str

    @property
    def header(self) -> str:
        """The leading comment block, without the ``--`` markers."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return "\n".join(lines)

    @property
    def parameters(self) -> frozenset[str]:
        """The ``:named`` parameters used in the SQL (comments not counted)."""
        return frozenset(_PARAMETER.findall(_COMMENT.sub("", self.text)))

    def on(self, table: str) -> Query:
        """The query with ``{table}`` replaced by the telemetry table, an identifier the contract has
        already validated and quoted (:func:`sprintgate.contract.quoted_table`)."""
        return Query(self.name, self.text.replace("{table}", table))

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        """The text in the driver's ``%(name)s`` style and the parameters, checked to match exactly."""
        given = frozenset(params)
        if given != self.parameters:
            raise ValueError(
                f"sprintgate: query {self.name!r} takes {sorted(self.parameters)}, but was given {sorted(given)}"
            )
        body = _COMMENT.sub("", self.text).strip().replace("%", "%%")
        return _PARAMETER.sub(r"%(\1)s", body), dict(params)


@cache
def load_query(name: str) -> Query:
    """The query ``sql/<name>.sql``."""
    path = resource_dir("sql") / f"{name}.sql"
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    if first.strip() != f"-- name: {name}":
        raise ValueError(f"sprintgate: {path} must start with '-- name: {name}', found {first!r}")
    return Query(name, text)


def query_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("sql").glob("*.sql"))
