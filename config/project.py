"""The project config file (`newsflow.toml`): what to read, where to load it, and when.

    [run]                       # any run setting; relative paths are relative to this file
    sources = ["seeds", "https://example.org/feed.xml"]
    warehouse = "warehouse"
    actors = []                 # your own actor dictionaries
    if_running = "skip"         # a due run that finds another one loading skips
    export_url = ""             # also write the Parquet exports here (any fsspec URL)

    [schedule]
    name = "newsflow"           # the Prefect deployment's name
    cron = "0 * * * *"
    timezone = "UTC"
    work_pool = "newsflow"      # used by `newsflow deploy`

Settings are layered: defaults, then this file, then NEWSFLOW_* environment variables, then flags.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.settings import Settings, is_url

CONFIG_FILE = "newsflow.toml"
# Names in the file that differ from the Settings field they set.
ALIASES = {"sources": "inputs", "actors": "actor_dictionaries"}
PATH_LISTS = ("inputs", "actor_dictionaries")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Schedule:
    """When the deployment runs."""

    name: str = "newsflow"
    cron: str | None = None
    timezone: str = "UTC"
    work_pool: str = "newsflow"

    def next_runs(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` fire times after `after` (what the Prefect scheduler will create)."""
        from cronsim import CronSim

        local = after.astimezone(ZoneInfo(self.timezone))
        times = CronSim(self.cron, local)
        return [next(times).astimezone(timezone.utc) for _ in range(count)]


@dataclass(frozen=True)
class ProjectConfig:
    path: Path | None
    run: dict  # Settings field -> value, paths resolved against the file's folder
    schedule: Schedule


def load_config(path: Path) -> ProjectConfig:
    """Read and check a config file; every problem is a ConfigError naming the file and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    unknown = sorted(set(data) - {"run", "schedule"})
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; use [run] and [schedule]")
    return ProjectConfig(path=path, run=_run_values(path, data.get("run", {})),
                         schedule=_schedule(path, data.get("schedule", {})))


def _run_values(path: Path, section: dict) -> dict:
    known = {f.name: f for f in fields(Settings)}
    defaults = Settings()
    base = path.resolve().parent
    values = {}
    for key, value in section.items():
        name = ALIASES.get(key, key)
        if name not in known or key in ALIASES.values():
            options = sorted([*ALIASES, *(n for n in known if n not in ALIASES.values())])
            raise ConfigError(f"{path}: unknown key [run].{key}; known keys: {', '.join(options)}")
        current = getattr(defaults, name)
        if name in PATH_LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: [run].{key} must be a list of strings")
            values[name] = tuple(v if is_url(v) else str(base / v) for v in value)
        elif isinstance(current, Path):
            values[name] = base / str(value)
        elif isinstance(current, bool) or not isinstance(value, (type(current), int)):
            raise ConfigError(f"{path}: [run].{key} must be a {type(current).__name__}, not {value!r}")
        else:
            values[name] = type(current)(value)
    if values.get("if_running", "wait") not in ("wait", "skip"):
        raise ConfigError(f"{path}: [run].if_running must be \"wait\" or \"skip\"")
    return values


def _schedule(path: Path, section: dict) -> Schedule:
    known = {f.name for f in fields(Schedule)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) [schedule].{', '.join(unknown)}; known: {', '.join(sorted(known))}")
    schedule = Schedule(**{k: str(v) for k, v in section.items()})
    if schedule.cron is not None:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(schedule.cron, datetime.now(timezone.utc))
        except CronSimError as err:
            raise ConfigError(f"{path}: [schedule].cron {schedule.cron!r} is not a cron expression: {err}") from None
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: [schedule].timezone {schedule.timezone!r} is not a time zone name") from None
    return schedule
