"""Staging before production: a promotion needs staging evidence it can verify.

The staging run signs its ``results.json`` with an HMAC (SHA-256) keyed by a secret from the
environment (``SPRINTGATE_SIGNING_KEY``, a CI secret shared by both runs). A production run accepts the
evidence only when the signature verifies, the staging run judged every check of the same suite
(goals, targets, flags: one digest) with the same code and every blocking check PASSed, and it was
generated in the past and not longer ago than ``staging_max_age_hours``, no newer staging run in its
history replaced it, and it read another database than the promoting run. The production report names
the evidence it relied on (its SHA-256, time and change record).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sprintgate.report import FORMAT

ALGORITHM = "hmac-sha256"
MIN_KEY_BYTES = 16
_MAX_BYTES = 20_000_000
_SKEW = timedelta(minutes=5)


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the document without its signature, keys sorted, compact."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(key: bytes) -> str:
    """A fingerprint that names the key without revealing it."""
    return hashlib.sha256(b"sprintgate key id:" + key).hexdigest()[:12]


def sign(document: Mapping[str, Any], key: bytes) -> dict[str, str]:
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(key),
        "value": hmac.new(key, canonical(document), hashlib.sha256).hexdigest(),
    }


def signing_key(environ: Mapping[str, str], variable: str) -> bytes | None:
    """The signing key from ``variable``; ``None`` when unset. A key shorter than 16 bytes is refused."""
    value = environ.get(variable, "")
    if not value:
        return None
    key = value.encode("utf-8", "surrogateescape")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"sprintgate: {variable} holds fewer than {MIN_KEY_BYTES} bytes; use a random key of 32 bytes or more."
        )
    return key


@dataclass(frozen=True, slots=True)
class StagingEvidence:
    """The staging run a promotion rests on."""

    path: Path
    sha256: str
    generated_at: str
    change_record: str | None

    def record(self) -> dict[str, str]:
        out = {"path": str(self.path), "sha256": self.sha256, "generated_at": self.generated_at}
        if self.change_record:
            out["change_record"] = self.change_record
        return out


def _read(path: Path) -> tuple[bytes | None, str | None]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (
            None,
            f"no staging results at {path}; run `pytest goals/ --env=staging` first or pass --staging-results PATH",
        )
    except OSError as error:
        return None, f"the staging results at {path} cannot be read ({error.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{path} is not a regular file"
    if info.st_size > _MAX_BYTES:
        return None, f"{path} is larger than any results.json ({info.st_size:,} bytes)"
    try:
        return path.read_bytes(), None
    except OSError as error:
        return None, f"the staging results at {path} cannot be read ({error.strerror})"


def database_of(source: str) -> str:
    """The database a masked DSN (``postgresql://user:***@host:port/db?...``) points at, without its user."""
    return re.sub(r"^postgresql://[^@/]*@", "postgresql://", source)


def _newer(history: Path, generated: datetime) -> str | None:
    """A staging run in ``history`` newer than ``generated``, as ``time (verdict)``."""
    newest = None
    for entry in history.glob("*.json"):
        stamp, _, verdict = entry.stem.partition("-")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        if when > generated and (newest is None or when > newest[0]):
            newest = (when, verdict)
    return None if newest is None else f"{newest[0].isoformat()} ({newest[1]})"


def verify(  # noqa: PLR0911, PLR0912 - one early return per reason to refuse, each with its message
    path: Path,
    *,
    staging_env: str,
    suite_digest: str,
    versions: Mapping[str, str],
    change_record: str | None,
    key: bytes | None,
    signing_variable: str,
    max_age_hours: float,
    now: datetime,
    history: Path,
    database: str | None,
) -> StagingEvidence | str:
    """The verified staging evidence at ``path``, or why a promotion cannot rest on it: it must be the
    newest staging run ``history`` holds, and read another database than this run's (``database``)."""
    raw, problem = _read(path)
    if raw is None:
        return problem or f"{path} cannot be read"
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"{path} is not a results.json document (not JSON)"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return f"{path} is not a results.json document of this sprintgate ({FORMAT})"
    if key is None:
        return f"{signing_variable} is not set, so the staging evidence cannot be verified; set the same secret key in the staging and production runs"
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        return f"the staging results at {path} are not signed; rerun staging with {signing_variable} set"
    expected = sign(document, key)["value"]
    if not hmac.compare_digest(str(signature.get("value", "")), expected):
        return (
            f"the signature of {path} does not verify: it was changed after the staging run, or signed with another key"
        )
    if document.get("env") != staging_env:
        return f"{path} holds results of env {document.get('env')!r}, not {staging_env!r}"
    decision = document.get("decision")
    checks = document.get("checks")
    if not isinstance(decision, dict) or not isinstance(checks, dict):
        return f"{path} has no decision"
    if decision.get("outcome") != "promote" or document.get("verdict") != "pass":
        return f"the staging run in {path} did not pass ({decision.get('outcome')!r})"
    if checks.get("not_judged") or checks.get("judged") != checks.get("total"):
        return f"the staging run in {path} judged {checks.get('judged')} of {checks.get('total')} checks"
    goals = document.get("goals")
    if not isinstance(goals, list) or not goals:
        return f"the staging run in {path} lists no checks"
    failing = [
        g.get("id") for g in goals if not isinstance(g, dict) or (g.get("verdict") != "pass" and not g.get("advisory"))
    ]
    if failing:
        return f"the staging run in {path} did not pass {', '.join(str(f) for f in failing)}"
    try:
        generated = datetime.fromisoformat(str(document.get("generated_at")))
    except ValueError:
        return f"the staging results at {path} have no valid generated_at"
    if generated.tzinfo is None:
        return f"the staging results at {path} have a generated_at without a UTC offset"
    if generated > now + _SKEW:
        return f"the staging run in {path} is dated in the future ({generated.isoformat()})"
    age = now - generated
    if age > timedelta(hours=max_age_hours):
        return f"the staging run in {path} is {age.total_seconds() / 3600:.1f} h old, more than the {max_age_hours:g} h allowed"
    newer = _newer(history, generated)
    if newer is not None:
        return f"a newer staging run ({newer}) replaced the one in {path}"
    if document.get("suite_digest") != suite_digest:
        return f"the staging run in {path} judged another suite (its goals, targets, flags or thresholds differ from this run's)"
    staged_source = document.get("source")
    if database is not None and isinstance(staged_source, str) and database_of(staged_source) == database_of(database):
        return f"the staging run in {path} read the same database as this run ({database_of(database)})"
    found = document.get("versions")
    staged: dict[str, Any] = found if isinstance(found, dict) else {}
    for name in ("sprintgate", "git"):
        if name in versions and staged.get(name) != versions[name]:
            return (
                f"the staging run in {path} ran other code ({name} {staged.get(name)!r}, this run {versions[name]!r})"
            )
    record = document.get("change_record")
    staged_record = record.get("id") if isinstance(record, dict) else None
    if change_record and staged_record and staged_record != change_record:
        return f"the staging run in {path} belongs to change record {staged_record!r}, not {change_record!r}"
    return StagingEvidence(path, hashlib.sha256(raw).hexdigest(), generated.isoformat(), staged_record)
