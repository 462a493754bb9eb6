"""Settings: engine defaults, overridden by ``[tool.sprintgate]`` in pyproject.toml, overridden by the
command line. Every mistake is a :class:`ConfigError` whose message names the bad value and its source;
nothing unknown or malformed falls back to a default silently.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sprintgate.goals import Judging
from sprintgate.windows import Window

DEMO = "demo"
AUTO = "auto"


class ConfigError(ValueError):
    """A configuration mistake: one line that says what, why, and where it came from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Where the telemetry of one environment lives. ``dsn_env`` is ``None`` for the embedded demo.

    The windows come from ``baseline`` / ``post`` when given, otherwise from the flag ``flip``
    (a time, or ``"auto"`` to find it in the telemetry).
    """

    name: str
    dsn_env: str | None
    baseline: Window | None = None
    post: Window | None = None
    flip: datetime | str | None = None


DEFAULT_ENVIRONMENTS = {
    DEMO: Environment(name=DEMO, dsn_env=None),
    "staging": Environment(name="staging", dsn_env="STAGING_DATABASE_URL"),
    "production": Environment(name="production", dsn_env="PRODUCTION_DATABASE_URL"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything that decides a run, after all overrides."""

    env: Environment
    judging: Judging = field(default_factory=Judging)
    targets: Mapping[str, float] = field(default_factory=dict)
    scenario: str = "rollout_met"
    demo_scale: float = 1.0
    reports_dir: Path = Path("reports")
    statement_timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    window_days: float = 7.0
    warmup_hours: float = 24.0
    flip_search_days: float = 90.0
    staging_max_age_hours: float = 72.0
    progress_after_s: float = 5.0
    staging_results: Path | None = None
    force: str | None = None
    change_record: str | None = None
    change_record_url: str | None = None


#: Numeric settings: (low, high, bounds inclusive). Judging's fields go to Judging, the rest to Settings.
_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "confidence": (0.5, 1.0, False),
    "seed": (0, 2**32, True),
    "min_window_days": (0, 366, False),
    "min_coverage": (0, 1, True),
    "flag_share": (0.5, 1, True),
    "late_slack_hours": (0, 24 * 30, True),
    "max_volume_ratio": (1, 1e6, True),
    "max_mix_distance": (0, 1, True),
    "max_reason_distance": (0, 1, True),
    "max_restaurant_distance": (0, 1, True),
    "placebo_alpha": (0, 1, False),
    "demo_scale": (0, 100, False),
    "statement_timeout_s": (0, 86400, False),
    "connect_timeout_s": (0, 3600, False),
    "window_days": (0, 366, False),
    "warmup_hours": (0, 24 * 30, True),
    "flip_search_days": (0, 3660, False),
    "staging_max_age_hours": (0, 24 * 366, False),
    "progress_after_s": (0, 3600, False),
}
_STRINGS = ("env", "scenario", "reports_dir", "change_record_url")
_TABLES = ("targets", "environments")
_TOP_KEYS = set(_NUMBERS) | set(_STRINGS) | set(_TABLES)
_ENV_KEYS = {"dsn_env", "baseline", "post", "flip"}
_JUDGING_KEYS = {f.name for f in fields(Judging)}


def read_pyproject(path: Path) -> dict[str, Any]:
    """The ``[tool.sprintgate]`` table of ``path`` (empty when the file or the table is absent)."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("sprintgate", {})
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"sprintgate: {path} is not valid TOML ({error}); fix the file.") from None
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: [tool.sprintgate] in {path} must be a table.")
    return table


def _number(value: Any, source: str, *, key: str) -> float:
    low, high, inclusive = _NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"sprintgate: {key} = {value!r} is not a number ({source}).")
    if not (low <= value <= high if inclusive else low < value < high):
        bounds = f"[{low:g}, {high:g}]" if inclusive else f"({low:g}, {high:g})"
        raise ConfigError(f"sprintgate: {key} = {value!r} is outside {bounds} ({source}).")
    return float(value)


def _window(value: Any, key: str, source: str) -> Window:
    if not isinstance(value, str):
        raise ConfigError(f"sprintgate: {key} = {value!r} must be START/END in ISO 8601 ({source}).")
    try:
        return Window.parse(value)
    except ValueError as error:
        raise ConfigError(f"sprintgate: {key}: {error} ({source}).") from None


def _flip(value: Any, key: str, source: str) -> datetime | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"sprintgate: {key} = {value!r} is neither an ISO 8601 time nor 'auto' ({source}).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _environments(table: Any, source: str) -> dict[str, Environment]:
    environments = dict(DEFAULT_ENVIRONMENTS)
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: environments must be a table of tables ({source}).")
    for name, entry in table.items():
        where = f"[tool.sprintgate.environments.{name}] in {source}"
        if not isinstance(entry, dict):
            raise ConfigError(f"sprintgate: {where} must be a table.")
        unknown = set(entry) - _ENV_KEYS
        if unknown:
            raise ConfigError(
                f"sprintgate: unknown key {sorted(unknown)[0]!r} in {where}; known: {', '.join(sorted(_ENV_KEYS))}."
            )
        base = environments.get(name, Environment(name=name, dsn_env=None))
        dsn_env = entry.get("dsn_env", base.dsn_env)
        if name != DEMO and not (isinstance(dsn_env, str) and dsn_env):
            raise ConfigError(f"sprintgate: {where} needs dsn_env, the name of the variable that holds its DSN.")
        environments[name] = Environment(
            name=name,
            dsn_env=dsn_env,
            baseline=_window(entry["baseline"], "baseline", where) if "baseline" in entry else base.baseline,
            post=_window(entry["post"], "post", where) if "post" in entry else base.post,
            flip=_flip(entry["flip"], "flip", where) if "flip" in entry else base.flip,
        )
    return environments


def _targets(table: Any, options: Sequence[str], where: str) -> dict[str, float]:
    """Goal id -> target, from ``[tool.sprintgate.targets]`` then ``--target ID=VALUE`` options."""
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: targets must be a table of goal id = number ({where}).")
    targets: dict[str, float] = {}
    for goal_id, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"sprintgate: targets.{goal_id} = {value!r} is not a number ({where}).")
        targets[goal_id] = float(value)
    for item in options:
        goal_id, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not goal_id or not math.isfinite(number):
            raise ConfigError(f"sprintgate: --target {item!r} must be GOAL_ID=NUMBER (from the command line).")
        targets[goal_id.strip()] = number
    return targets


def resolve(pyproject: Mapping[str, Any], cli: Mapping[str, Any], *, source: str = "pyproject.toml") -> Settings:
    """Settings from the ``[tool.sprintgate]`` table and command-line values (``None`` = not given)."""
    unknown = set(pyproject) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"sprintgate: unknown key {sorted(unknown)[0]!r} in [tool.sprintgate] of {source}; "
            f"known: {', '.join(sorted(_TOP_KEYS))}."
        )
    where = f"from [tool.sprintgate] in {source}"

    def pick(key: str) -> tuple[Any, str] | None:
        if cli.get(key) is not None:
            return cli[key], "from the command line"
        if key in pyproject:
            return pyproject[key], where
        return None

    environments = _environments(pyproject.get("environments", {}), source)
    env_name, env_source = pick("env") or (DEMO, "the default")
    if env_name not in environments:
        raise ConfigError(
            f"sprintgate: --env {env_name!r} is not a known environment ({env_source}); "
            f"known: {', '.join(environments)}."
        )
    env = environments[env_name]
    if cli.get("baseline") is not None:
        env = replace(env, baseline=_window(cli["baseline"], "--baseline", "from the command line"))
    if cli.get("post") is not None:
        env = replace(env, post=_window(cli["post"], "--post", "from the command line"))
    if cli.get("flip") is not None:
        env = replace(env, flip=_flip(cli["flip"], "--flip", "from the command line"))

    numbers: dict[str, float] = {}
    for key in _NUMBERS:
        picked = pick(key)
        if picked is not None:
            numbers[key] = _number(picked[0], picked[1], key=key)
    judging_values: dict[str, Any] = {k: v for k, v in numbers.items() if k in _JUDGING_KEYS}
    if "seed" in judging_values:
        judging_values["seed"] = int(judging_values["seed"])

    targets = _targets(pyproject.get("targets", {}), cli.get("targets") or (), where)
    values: dict[str, Any] = {k: v for k, v in numbers.items() if k not in _JUDGING_KEYS}
    for key in _STRINGS:
        picked = pick(key)
        if key != "env" and picked is not None:
            values[key] = Path(str(picked[0])) if key == "reports_dir" else str(picked[0])
    return Settings(
        env=env,
        judging=Judging(**judging_values),
        targets=targets,
        staging_results=Path(cli["staging_results"]) if cli.get("staging_results") else None,
        force=cli.get("force"),
        change_record=cli.get("change_record"),
        **values,
    )
