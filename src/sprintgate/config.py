"""Settings: engine defaults, overridden by ``[tool.sprintgate]`` in pyproject.toml, overridden by the
command line. Every mistake is a :class:`ConfigError` whose message names the bad value and its source;
nothing unknown or malformed falls back to a default silently.

:func:`read_pyproject` is the only I/O; :func:`resolve` is pure.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sprintgate.text import terminal
from sprintgate.windows import Window, WindowError

DEMO = "demo"
AUTO = "auto"
_ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class ConfigError(ValueError):
    """A configuration mistake: one line that says what, why, and where it came from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """How to judge: the confidence, the sample rules and the precondition bounds."""

    confidence: float = 0.90
    min_window_days: float = 7.0
    min_coverage: float = 0.9
    flag_share: float = 0.99
    late_slack_hours: float = 1.0
    max_volume_ratio: float = 1.5
    max_mix_distance: float = 0.1
    max_cluster_distance: float = 0.2
    placebo_alpha: float = 0.01
    min_clusters: int = 10
    max_excluded_share: float = 0.05
    slot_hours: float = 12.0
    cluster_groups: int = 16
    first_look_share: float = 0.75


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
    thresholds: Thresholds = field(default_factory=Thresholds)
    targets: Mapping[str, str] = field(default_factory=dict)  # goal id -> target as written, with its unit
    scenario: str | None = None
    demo_scale: float = 1.0
    seed: int = 20251112
    reports_dir: Path = Path("reports")
    file_mode: int = 0o644
    statement_timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    work_mem_mb: int = 128
    window_days: float = 7.0
    warmup_hours: float = 24.0
    flip_search_days: float = 90.0
    staging_env: str = "staging"
    staging_max_age_hours: float = 72.0
    signing_key_env: str = "SPRINTGATE_SIGNING_KEY"
    progress_after_s: float = 5.0
    staging_results: Path | None = None
    force: str | None = None
    change_record: str | None = None
    change_record_url: str | None = None

    @property
    def promotes(self) -> bool:
        """Whether this run needs a passing staging run first: every environment but the demo and the
        staging environment itself, whatever it is called."""
        return self.env.name not in (DEMO, self.staging_env)


#: Numeric settings: (low, high, bounds inclusive, integer). Thresholds' fields go to Thresholds.
_NUMBERS: dict[str, tuple[float, float, bool, bool]] = {
    "confidence": (0.5, 0.999, True, False),
    "min_window_days": (0, 366, False, False),
    "min_coverage": (0, 1, True, False),
    "flag_share": (0.5, 1, True, False),
    "late_slack_hours": (0, 24 * 30, True, False),
    "max_volume_ratio": (1, 1e6, True, False),
    "max_mix_distance": (0, 1, True, False),
    "max_cluster_distance": (0, 1, True, False),
    "placebo_alpha": (0, 0.5, False, False),
    "min_clusters": (2, 10_000, True, True),
    "max_excluded_share": (0, 1, True, False),
    "slot_hours": (1, 24 * 7, True, False),
    "cluster_groups": (2, 1024, True, True),
    "first_look_share": (0.5, 1, True, False),
    "seed": (0, 2**32 - 1, True, True),
    "demo_scale": (0, 100, False, False),
    "statement_timeout_s": (1, 86400, True, False),
    "connect_timeout_s": (1, 3600, True, False),
    "work_mem_mb": (4, 65536, True, True),
    "window_days": (1 / 24, 366, True, False),
    "warmup_hours": (0, 24 * 30, True, False),
    "flip_search_days": (1, 3660, True, False),
    "staging_max_age_hours": (0, 24 * 366, False, False),
    "progress_after_s": (0, 3600, False, False),
}
_STRINGS = ("env", "scenario", "reports_dir", "change_record_url", "staging_env", "signing_key_env", "file_mode")
_TABLES = ("targets", "environments")
_TOP_KEYS = set(_NUMBERS) | set(_STRINGS) | set(_TABLES)
_ENV_KEYS = {"dsn_env", "baseline", "post", "flip"}
_THRESHOLD_KEYS = {f.name for f in fields(Thresholds)}


def read_pyproject(path: Path) -> dict[str, Any]:
    """The ``[tool.sprintgate]`` table of ``path`` (empty when the file or the table is absent)."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("sprintgate", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"sprintgate: {path} is not valid TOML ({terminal(str(error))}); fix the file.") from None
    except OSError as error:
        raise ConfigError(f"sprintgate: {path} cannot be read ({error.strerror}).") from None
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: [tool.sprintgate] in {path} must be a table.")
    return table


def _shown(value: Any) -> str:
    return terminal(repr(value))[:80]


def _number(value: Any, source: str, *, key: str) -> float:
    low, high, inclusive, integer = _NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"sprintgate: {key} = {_shown(value)} is not a number ({source}).")
    if integer and float(value) != int(value):
        raise ConfigError(f"sprintgate: {key} = {_shown(value)} must be a whole number ({source}).")
    if not (low <= value <= high if inclusive else low < value < high):
        bounds = f"[{low:g}, {high:g}]" if inclusive else f"({low:g}, {high:g})"
        raise ConfigError(f"sprintgate: {key} = {_shown(value)} is outside {bounds} ({source}).")
    return float(value)


def _window(value: Any, key: str, source: str) -> Window:
    if not isinstance(value, str):
        raise ConfigError(f"sprintgate: {key} = {_shown(value)} must be START/END in ISO 8601 ({source}).")
    try:
        return Window.parse(value)
    except (ValueError, WindowError) as error:
        raise ConfigError(f"sprintgate: {key}: {terminal(str(error))} ({source}).") from None


def _flip(value: Any, key: str, source: str) -> datetime | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ConfigError(f"sprintgate: {key} = {_shown(value)} is neither an ISO 8601 time nor 'auto' ({source}).")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"sprintgate: {key} = {_shown(value)} is neither an ISO 8601 time nor 'auto' ({source})."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _environments(table: Any, source: str) -> dict[str, Environment]:
    environments = dict(DEFAULT_ENVIRONMENTS)
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: environments must be a table of tables ({source}).")
    for name, entry in table.items():
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(
                f"sprintgate: environment name {_shown(name)} must be lowercase letters, digits, - and _ "
                f"(it names a folder under reports/) ({source})."
            )
        where = f"[tool.sprintgate.environments.{name}] in {source}"
        if not isinstance(entry, dict):
            raise ConfigError(f"sprintgate: {where} must be a table.")
        unknown = set(entry) - _ENV_KEYS
        if unknown:
            raise ConfigError(
                f"sprintgate: unknown key {_shown(sorted(unknown)[0])} in {where}; known: {', '.join(sorted(_ENV_KEYS))}."
            )
        base = environments.get(name, Environment(name=name, dsn_env=None))
        dsn_env = entry.get("dsn_env", base.dsn_env)
        if name == DEMO and "dsn_env" in entry:
            raise ConfigError(f"sprintgate: {where}: the demo environment is embedded and takes no dsn_env.")
        if name != DEMO and not (isinstance(dsn_env, str) and _VARIABLE.fullmatch(dsn_env)):
            raise ConfigError(f"sprintgate: {where} needs dsn_env, the name of the variable that holds its DSN.")
        environments[name] = Environment(
            name=name,
            dsn_env=dsn_env,
            baseline=_window(entry["baseline"], "baseline", where) if "baseline" in entry else base.baseline,
            post=_window(entry["post"], "post", where) if "post" in entry else base.post,
            flip=_flip(entry["flip"], "flip", where) if "flip" in entry else base.flip,
        )
    return environments


def _check_staging(name: str, environments: Mapping[str, Environment], where: str) -> None:
    """The staging environment must be a real database of its own: not the demo, not production, and
    not reached through a variable another environment uses. Which runs promote follows from it."""
    staging = environments.get(name)
    if staging is None or staging.dsn_env is None or name == "production":
        raise ConfigError(
            f"sprintgate: staging_env = {_shown(name)} must name an environment with its own database, other than demo "
            f"and production ({where}); known: {', '.join(n for n, e in environments.items() if e.dsn_env and n != 'production')}."
        )
    shared = sorted(n for n, e in environments.items() if n != name and e.dsn_env == staging.dsn_env)
    if shared:
        raise ConfigError(
            f"sprintgate: the staging environment {name!r} reads {staging.dsn_env}, as {', '.join(shared)} does ({where}); "
            "staging evidence must come from its own database."
        )


def _targets(table: Any, options: Sequence[str], where: str) -> dict[str, str]:
    """Goal id -> target as written, from ``[tool.sprintgate.targets]`` then ``--target ID=VALUE``."""
    if not isinstance(table, dict):
        raise ConfigError(f"sprintgate: targets must be a table of goal id = target ({where}).")
    targets: dict[str, str] = {}
    for goal_id, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(
                f'sprintgate: targets.{goal_id} = {_shown(value)} is not a target such as 0.7, "30%" or "5pt" ({where}).'
            )
        targets[goal_id] = str(value)
    for item in options:
        goal_id, sep, value = item.partition("=")
        if not sep or not goal_id.strip() or not value.strip():
            raise ConfigError(
                f"sprintgate: --target {_shown(item)} must be GOAL_ID=VALUE, e.g. cache_hit_ceiling=30% (from the command line)."
            )
        targets[goal_id.strip()] = value.strip()
    return targets


def _file_mode(value: Any, source: str) -> int:
    text = str(value)
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise ConfigError(f'sprintgate: file_mode = {_shown(value)} must be octal like "0644" ({source}).')
    mode = int(text, 8)
    if mode & 0o600 != 0o600:
        raise ConfigError(f"sprintgate: file_mode = {_shown(value)} must let the owner read and write ({source}).")
    return mode


def resolve(pyproject: Mapping[str, Any], cli: Mapping[str, Any], *, source: str = "pyproject.toml") -> Settings:  # noqa: PLR0912 - one check per kind of setting
    """Settings from the ``[tool.sprintgate]`` table and command-line values (``None`` = not given)."""
    unknown = set(pyproject) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"sprintgate: unknown key {_shown(sorted(unknown)[0])} in [tool.sprintgate] of {source}; "
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
    if not isinstance(env_name, str) or env_name not in environments:
        raise ConfigError(
            f"sprintgate: --env {_shown(env_name)} is not a known environment ({env_source}); known: {', '.join(environments)}."
        )
    env = environments[env_name]
    if cli.get("baseline") is not None:
        env = replace(env, baseline=_window(cli["baseline"], "--baseline", "from the command line"))
    if cli.get("post") is not None:
        env = replace(env, post=_window(cli["post"], "--post", "from the command line"))
    if cli.get("flip") is not None:
        env = replace(env, flip=_flip(cli["flip"], "--flip", "from the command line"))

    numbers: dict[str, Any] = {}
    for key, (_, _, _, integer) in _NUMBERS.items():
        picked = pick(key)
        if picked is not None:
            value = _number(picked[0], picked[1], key=key)
            numbers[key] = int(value) if integer else value
    values: dict[str, Any] = {k: v for k, v in numbers.items() if k not in _THRESHOLD_KEYS}
    for key in _STRINGS:
        picked = pick(key)
        if key == "env" or picked is None:
            continue
        value, origin = picked
        if not isinstance(value, str) and key != "file_mode":
            raise ConfigError(f"sprintgate: {key} = {_shown(value)} must be a string ({origin}).")
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"sprintgate: {key} is empty ({origin}); give a value or leave it out for the default.")
        if key == "reports_dir":
            values[key] = Path(value)
        elif key == "file_mode":
            values[key] = _file_mode(value, origin)
        elif key in ("staging_env",) and not _ENV_NAME.fullmatch(value):
            raise ConfigError(f"sprintgate: {key} = {_shown(value)} is not an environment name ({origin}).")
        elif key == "signing_key_env" and not _VARIABLE.fullmatch(value):
            raise ConfigError(f"sprintgate: {key} = {_shown(value)} is not a variable name ({origin}).")
        else:
            values[key] = value
    for key in ("force", "change_record"):
        given = cli.get(key)
        if given is not None and (not isinstance(given, str) or not given.strip()):
            raise ConfigError(f"sprintgate: --{key.replace('_', '-')} needs a non-empty value (from the command line).")
        if given is not None and len(given) > 500:
            raise ConfigError(
                f"sprintgate: --{key.replace('_', '-')} is longer than 500 characters (from the command line)."
            )
    _check_staging(values.get("staging_env", "staging"), environments, where)
    return Settings(
        env=env,
        thresholds=Thresholds(**{k: v for k, v in numbers.items() if k in _THRESHOLD_KEYS}),
        targets=_targets(pyproject.get("targets", {}), cli.get("targets") or (), where),
        staging_results=Path(cli["staging_results"]) if cli.get("staging_results") else None,
        force=cli.get("force"),
        change_record=cli.get("change_record"),
        **values,
    )
