"""Command ids answered in the last few minutes: a redelivered or repeated command is never executed twice.

QoS 1 is at-least-once: a command acknowledged late (after its answer) comes
back after a broker restart or a daemon crash.  The ids are kept in memory and,
where the service has a state directory, appended to a small journal so that a
daemon killed with SIGKILL still knows, after its restart, what it answered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("edge_slm.service.recent")
JOURNAL = "answered.jsonl"


class RecentIds:
    def __init__(self, window_s: float = 300.0, max_entries: int = 20000, state_dir: str | Path | None = None) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._journal: Path | None = None
        self._handle = None
        self._written = 0
        if state_dir:
            self._journal = Path(state_dir) / JOURNAL
            self._load()
            self._rewrite()

    def __contains__(self, key: str) -> bool:
        now = time.time()
        with self._lock:
            self._expire(now)
            return key in self._seen

    def add(self, key: str) -> None:
        """Remember ``key`` in memory (duplicates in this process are caught from now on)."""
        now = time.time()
        with self._lock:
            self._seen[key] = now
            self._seen.move_to_end(key)
            self._expire(now)

    def persist(self, key: str) -> None:
        """Journal ``key`` so a restarted daemon knows it too. Called once the answer is the broker's:
        journalled earlier, a kill before the answer went out would lose the command."""
        now = time.time()
        with self._lock:
            if self._handle is not None:
                try:
                    # One small write per command and no fsync: it outlives a killed process, not a power cut.
                    self._handle.write(json.dumps([round(now, 1), key]) + "\n")
                    self._handle.flush()
                    self._written += 1
                except OSError as exc:
                    log.warning("answered-ids journal cannot be written", extra={"reason": str(exc)})
                    self._handle = None
            if self._written > 2 * self.max_entries:
                self._rewrite()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= self.window_s and len(self._seen) <= self.max_entries:
                break
            self._seen.popitem(last=False)

    def _load(self) -> None:
        assert self._journal is not None
        try:
            lines = self._journal.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("answered-ids journal cannot be read", extra={"reason": str(exc)})
            return
        now = time.time()
        for line in lines:
            try:
                at, key = json.loads(line)
            except (ValueError, TypeError):
                continue  # a line cut short by a kill
            if isinstance(key, str) and isinstance(at, (int, float)) and now - at <= self.window_s:
                self._seen[key] = float(at)
        self._expire(now)

    def _rewrite(self) -> None:
        """Start a fresh journal holding only the ids still in the window."""
        assert self._journal is not None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        try:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            temp = self._journal.with_suffix(".tmp")
            with temp.open("w", encoding="utf-8") as out:
                for key, at in self._seen.items():
                    out.write(json.dumps([round(at, 1), key]) + "\n")
            os.replace(temp, self._journal)
            self._handle = self._journal.open("a", encoding="utf-8")
            self._written = len(self._seen)
        except OSError as exc:
            log.warning("answered-ids journal cannot be written; duplicates are caught in memory only",
                        extra={"reason": str(exc), "path": str(self._journal)})
