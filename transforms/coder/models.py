"""Models: the coder's learned linear models and the file they ship in (lexicons/event_coder.json.gz).

    gate        P(the candidate is an event stated as fact)
    classifier  P(CAMEO root | event), over the roots 02-20
    source      P(the argument is the event's source actor)
    target      P(the argument is the event's target actor)

Each is a logistic regression over named features (transforms.coder.features), stored as a
weight per feature and class, so prediction needs no library: a sum and a sigmoid or softmax.
Trained by `training/train_coder.py`; the file also carries the nouns that may be triggers, the
thresholds chosen on the training folds, and what the model was trained on.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MODEL_FILE = Path(__file__).resolve().parents[2] / "lexicons" / "event_coder.json.gz"


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression: binary (one column) or multinomial (one column per class)."""

    classes: tuple[str, ...]
    weights: dict[str, tuple[float, ...]]
    intercept: tuple[float, ...]

    def probabilities(self, features: list[str]) -> dict[str, float]:
        """The probability of each class."""
        z = list(self.intercept)
        for name in features:
            w = self.weights.get(name)
            if w is not None:
                for k, v in enumerate(w):
                    z[k] += v
        if len(z) == 1:
            p = 1.0 / (1.0 + math.exp(-max(min(z[0], 50.0), -50.0)))
            return {self.classes[0]: 1.0 - p, self.classes[1]: p}
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return {c: v / total for c, v in zip(self.classes, e)}

    def positive(self, features: list[str]) -> float:
        """P(class "1") of a binary model."""
        return self.probabilities(features)["1"]

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "intercept": list(self.intercept),
                "weights": {k: list(v) for k, v in self.weights.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "LinearModel":
        return cls(tuple(data["classes"]), {k: tuple(v) for k, v in data["weights"].items()},
                   tuple(data["intercept"]))


@dataclass(frozen=True)
class CoderModel:
    """The four models, the trigger nouns, the thresholds and the model card's facts."""

    gate: LinearModel
    classifier: LinearModel
    source: LinearModel
    target: LinearModel
    trigger_nouns: frozenset[str]
    gate_threshold: float
    actor_threshold: float
    card: dict
    view_threshold: float = 0.5  # the confident_events view keeps events at or above this confidence

    def to_dict(self) -> dict:
        return {"gate": self.gate.to_dict(), "classifier": self.classifier.to_dict(),
                "source": self.source.to_dict(), "target": self.target.to_dict(),
                "trigger_nouns": sorted(self.trigger_nouns), "gate_threshold": self.gate_threshold,
                "actor_threshold": self.actor_threshold, "card": self.card,
                "view_threshold": self.view_threshold}

    @classmethod
    def from_dict(cls, data: dict) -> "CoderModel":
        return cls(*(LinearModel.from_dict(data[k]) for k in ("gate", "classifier", "source", "target")),
                   frozenset(data["trigger_nouns"]), float(data["gate_threshold"]),
                   float(data["actor_threshold"]), dict(data["card"]), float(data["view_threshold"]))

    def save(self, path: Path = MODEL_FILE) -> None:
        # no file name and mtime 0 in the gzip header: the same model gives the same bytes
        with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode())


@lru_cache(maxsize=2)
def coder_model(path: Path = MODEL_FILE) -> CoderModel:
    """The shipped model (read once per process)."""
    with gzip.open(path, "rb") as f:
        return CoderModel.from_dict(json.loads(f.read()))
