"""Trained weights kept between builds, so that changing a later step does not retrain.

A checkpoint is found by a key over everything that decides the weights: the settings, the
training data, the vocabulary, the seed, the torch version and the training code itself. A
key that differs in any of these misses, so a stale checkpoint is never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .model import JointModel

log = logging.getLogger("export.checkpoints")

# The modules whose code decides what training produces.
_TRAINING_CODE = ("model.py", "train.py", "distill.py", "features.py")


def training_key(*parts: Any) -> str:
    digest = hashlib.sha256(torch.__version__.encode())
    here = Path(__file__).parent
    for name in _TRAINING_CODE:
        digest.update((here / name).read_bytes())
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


class CheckpointCache:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, kind: str, key: str) -> Path | None:
        return self.folder / f"{kind}-{key}.pt" if self.folder else None

    def load(self, kind: str, key: str, model: JointModel) -> float | None:
        """Training seconds of the stored weights now in ``model``, or None on a miss."""
        path = self._path(kind, key)
        if path is None or not path.is_file():
            return None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(stored["weights"])
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            log.warning("checkpoint unreadable, training again", extra={"path": str(path), "error": str(exc)})
            return None
        model.eval()
        print(f"{kind}: reusing {path} (trained in {stored['seconds']:.0f} s)", flush=True)
        return float(stored["seconds"])

    def save(self, kind: str, key: str, model: JointModel, seconds: float) -> None:
        path = self._path(kind, key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save({"weights": model.state_dict(), "seconds": seconds}, partial)
        os.replace(partial, path)

    def trained(self, kind: str, key: str, model: JointModel,
                train: Callable[[], JointModel]) -> tuple[JointModel, float]:
        """The stored weights in ``model`` when they exist, else ``train()`` kept for next time;
        with the training seconds either way."""
        seconds = self.load(kind, key, model)
        if seconds is not None:
            return model, seconds
        started = time.monotonic()
        model = train()
        seconds = time.monotonic() - started
        self.save(kind, key, model, seconds)
        return model, seconds
