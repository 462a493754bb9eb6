"""Settings: engine defaults, overridden by ``[tool.sprintgate]`` in pyproject.toml, overridden by the
command line. Every mistake is a :class:`ConfigError` whose message names the bad value and its source.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sprintgate.goals import Judging
from sprintgate.windows import Window

DEMO = "demo"


class ConfigError(ValueError):
    """A configuration mistake: one line that says what, why, and where it came from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Where the telemetry of one environment lives. ``dsn_env`` is ``None`` for the embedded demo."""

    name: str
    dsn_env: str | None
    baseline: Window | None = None
    post: Window | None = None


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


_TOP_KEYS = {
    "env",
    "confidence",
    "seed",
    "min_window_days",
    "min_coverage",
    "flag_share",
    "targets",
    "scenario",
    "demo_scale",
    "reports_dir",
    "statement_timeout_s",
    "connect_timeout_s",
    "environments",
}
_ENV_KEYS = {"dsn_env", "baseline", "post"}


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


def _number(value: Any, source: str, *, key: str, low: float, high: float, inclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"sprintgate: {key} = {value!r} is not a number ({source}).")
    inside = low <= value <= high if inclusive else low < value < high
    if not inside:
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
        )
    return environments


def resolve(pyproject: Mapping[str, Any], cli: Mapping[str, Any], *, source: str = "pyproject.toml") -> Settings:
    """Settings from the ``[tool.sprintgate]`` table and command-line values (``None`` = not given)."""
    unknown = set(pyproject) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"sprintgate: unknown key {sorted(unknown)[0]!r} in [tool.sprintgate] of {source}; known: {', '.join(sorted(_TOP_KEYS))}."
        )
    where = f"[tool.sprintgate] in {source}"

    def pick(key: str, default: Any) -> tuple[Any, str]:
        if cli.get(key) is not None:
            return cli[key], "from the command line"
        if key in pyproject:
            return pyproject[key], f"from {where}"
        return default, "the default"

    environments = _environments(pyproject.get("environments", {}), source)
    env_name, env_source = pick("env", DEMO)
    if env_name not in environments:
        raise ConfigError(
            f"sprintgate: --env {env_name!r} is not a known environment ({env_source}); known: {', '.join(environments)}."
        )
    env = environments[env_name]
    for key in ("baseline", "post"):
        if cli.get(key) is not None:
            env = Environment(
                **{
                    **{f: getattr(env, f) for f in ("name", "dsn_env", "baseline", "post")},
                    key: _window(cli[key], f"--{key}", "from the command line"),
                }
            )

    judging = Judging(
        confidence=_number(*pick("confidence", 0.90), low=0.5, high=1.0, key="confidence"),
        seed=int(_number(*pick("seed", Judging().seed), low=0, high=2**32, inclusive=True, key="seed")),
        min_window_days=_number(*pick("min_window_days", 7.0), low=0, high=366, key="min_window_days"),
        min_coverage=_number(*pick("min_coverage", 0.9), low=0, high=1, inclusive=True, key="min_coverage"),
        flag_share=_number(*pick("flag_share", 0.99), low=0.5, high=1, inclusive=True, key="flag_share"),
    )
    targets: dict[str, float] = {}
    table_targets = pyproject.get("targets", {})
    if not isinstance(table_targets, dict):
        raise ConfigError(f"sprintgate: targets must be a table of goal id = number ({where}).")
    for goal_id, value in table_targets.items():
        targets[goal_id] = _number(value, f"from {where}", key=f"targets.{goal_id}", low=-1e12, high=1e12)
    for item in cli.get("targets") or ():
        goal_id, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not goal_id or not math.isfinite(number):
            raise ConfigError(f"sprintgate: --target {item!r} must be GOAL_ID=NUMBER (from the command line).")
        targets[goal_id.strip()] = number
    scenario, _ = pick("scenario", "rollout_met")
    return Settings(
        env=env,
        judging=judging,
        targets=targets,
        scenario=str(scenario),
        demo_scale=_number(*pick("demo_scale", 1.0), low=0, high=100, key="demo_scale"),
        reports_dir=Path(str(pick("reports_dir", "reports")[0])),
        statement_timeout_s=_number(*pick("statement_timeout_s", 300.0), low=0, high=86400, key="statement_timeout_s"),
        connect_timeout_s=_number(*pick("connect_timeout_s", 10.0), low=0, high=3600, key="connect_timeout_s"),
    )
