"""The home description the daemon serves with: loaded at start, reloaded on SIGHUP or when the
file changes, without a restart.  A reload that fails keeps the home that worked, and says why.

Safe across threads: a reload builds a whole new Resolver and swaps it in with one assignment, and
readers take ``resolver`` once per command, so no command sees half of one home and half of another;
``poll`` may be called from any thread (one reload at a time)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from edge_slm.home.model import HomeError, load_home
from edge_slm.service.config import ConfigError

if TYPE_CHECKING:
    from edge_slm.engine.nlu import Engine
    from edge_slm.home.mask import HomeParser
    from edge_slm.home.resolve import Resolver

log = logging.getLogger("edge_slm.service.home")
POLL_S = 2.0


class HomeFile:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.resolver: Resolver | None = None
        self._stamp: tuple[float, int] | None = None
        self._reload = threading.Event()
        self._checked = 0.0
        self._lock = threading.Lock()
        if path:
            try:
                self._load()
            except HomeError as exc:
                raise ConfigError(f"home description: {exc}") from exc

    def parser(self, engine: "Engine", resolver: "Resolver | None") -> "Engine | HomeParser":
        """What parses commands: with a home (``resolver``, taken once by the caller), the engine with
        the home's device names said in words it knows (edge_slm.home.mask); without one, the engine."""
        if resolver is None:
            return engine
        from edge_slm.home.mask import HomeParser  # rapidfuzz: only with a home

        return HomeParser(engine, resolver.masker)

    def request_reload(self) -> None:
        """From a signal handler: only sets a flag; the timer thread does the work."""
        self._reload.set()

    def poll(self) -> None:
        if not self.path or not self._lock.acquire(blocking=False):
            return  # another thread is reloading right now
        try:
            self._poll()
        finally:
            self._lock.release()

    def _poll(self) -> None:
        now = time.monotonic()
        if not self._reload.is_set() and now - self._checked < POLL_S:
            return
        self._checked = now
        forced = self._reload.is_set()
        self._reload.clear()
        if forced or self._file_stamp() != self._stamp:
            try:
                self._load()
            except HomeError as exc:
                log.error("home description not reloaded; keeping the previous one", extra={"reason": str(exc)})
                self._stamp = self._file_stamp()  # do not retry a broken file every 2 s; a change or SIGHUP will

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = os.stat(self.path)  # type: ignore[arg-type]
        except OSError:
            return None
        return stat.st_mtime, stat.st_size

    def _load(self) -> None:
        try:
            import yaml  # noqa: F401 - the file format

            from edge_slm.home.resolve import Resolver
        except ImportError as exc:
            raise HomeError(f"{self.path}: resolving names needs rapidfuzz and PyYAML "
                            f"(pip install 'edge-slm[home]')") from exc
        stamp = self._file_stamp()
        home = load_home(self.path)  # type: ignore[arg-type]
        self.resolver = Resolver(home)
        self._stamp = stamp
        log.info("home description loaded", extra={"path": self.path, "areas": len(home.areas),
                                                   "entities": len(home.entities)})
