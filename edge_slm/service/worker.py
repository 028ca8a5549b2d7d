"""The worker: one thread that takes requests off the intake's bounded queue and handles them.

Its heartbeat feeds the systemd watchdog (a worker stuck in one command stops it); at a stop it
answers what is already queued, then leaves.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Worker(Generic[T]):
    def __init__(self, requests: "queue.Queue[T | None]", handle: Callable[[T], None]) -> None:
        self.queue = requests
        self.handle = handle  # never raises (the daemon's _handle_safely)
        self.heartbeat = time.monotonic()
        self.thread = threading.Thread(target=self._work, name="edge-slm-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, drain_timeout: float) -> None:
        """Answer what is queued, then end the thread."""
        if self.thread.is_alive():
            try:
                self.queue.put(None, timeout=drain_timeout)
            except queue.Full:
                pass
            self.thread.join(drain_timeout)

    def _work(self) -> None:
        while True:
            self.heartbeat = time.monotonic()
            try:
                request = self.queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if request is None:
                while True:
                    try:
                        rest = self.queue.get_nowait()
                    except queue.Empty:
                        return
                    if rest is not None:
                        self.handle(rest)
            self.handle(request)
