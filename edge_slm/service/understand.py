"""One path from text to decision: the daemon (MQTT, Hermes, voice), the Wyoming service, ``parse``,
``listen`` and ``home eval``/``check --try`` all understand through ``Understander``, so what is
measured and shown is what is published.

Text goes through the engine (with the home's device names masked into words it knows), compound
commands are split, and every action is judged against the home (``decide``: never act on a guess).
The engine runs on one executor thread, whoever asks: on a Pi, one command at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Sequence

from edge_slm.engine.compound import parse_all
from edge_slm.engine.nlu import Engine, Parse
from edge_slm.service.decide import Decision, decide
from edge_slm.service.homefile import HomeFile

if TYPE_CHECKING:
    from edge_slm.engine.bundle import Bundle
    from edge_slm.service.config import Config


class Understander:
    """The engine, the home it serves, and the rules that judge each parse."""

    def __init__(self, engine: Engine, home: HomeFile | None = None, *, site_area: str = "",
                 action_threshold: float = 0.8) -> None:
        self.engine = engine
        self.home = home or HomeFile(None)
        self.site_area = site_area
        self.action_threshold = action_threshold
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: "Config", bundle: str | Bundle | None = None, engine: Engine | None = None) -> "Understander":
        """Every ``[model]``, ``[limits]``, ``[home]`` and ``[site]`` setting that shapes understanding,
        the same for every command that loads a config (``engine``: one already loaded, as benches and
        tests share one). Raises BundleError or ConfigError."""
        model = config.model
        if engine is None:
            engine = Engine.load(bundle or model.bundle, threads=model.threads, optimization=model.optimization,
                                 threshold=model.confidence_threshold, cache_size=model.cache_size,
                                 trusted_keys=model.trusted_keys, max_text_chars=config.limits.max_text_chars)
        return cls(engine, HomeFile(config.home.file or None), site_area=config.site.area,
                   action_threshold=model.action_threshold)

    def understand(self, text: str, area: str | None = None,
                   intents: Sequence[str] | None = None) -> list[Decision]:
        """One decision per action. ``area``: the room the command was said in (a satellite's), else
        ``[site] area``; ``intents``: only these may be recognised (Hermes ``intentFilter``).
        Raises RefusedInput for text the engine will not take."""
        self.home.poll()  # a changed file is taken up here too, by whichever channel asks first
        resolver = self.home.resolver  # one home for the whole command, even while a reload swaps it
        parser = self.home.parser(self.engine, resolver)
        parses = parse_all(parser, text)
        if intents:
            refused = self.engine.responder.render(None, {})
            parses = [p if not p.recognized or p.intent in intents
                      else Parse(p.text, p.intent, p.confidence, False, (), refused) for p in parses]
        return [decide(p, self.engine.responder, resolver, area or self.site_area or None,
                       self.action_threshold, self.engine.actions) for p in parses]

    def area_of_device(self, device_id: str | None, satellite_id: str | None = None) -> str | None:
        """The area id of the device a command came from (Home Assistant names the satellite's
        device with each sentence), from the home's devices; None without a home or when unknown."""
        resolver = self.home.resolver
        area = resolver.home.area_of_device(device_id, satellite_id) if resolver is not None else None
        return area.id if area is not None else None

    def submit(self, text: str, area: str | None = None, intents: Sequence[str] | None = None) -> Future:
        """``understand`` on the one engine thread; the MQTT worker, Wyoming and voice all come here."""
        return self._pool().submit(self.understand, text, area, intents)

    def intent_of(self, text: str) -> str | None:
        """Voice: the intent the engine takes this text for (None: out of scope), on the engine thread."""
        return self._pool().submit(self.engine.intent_of, text).result()

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-slm-engine")
            return self._executor

    def close(self) -> None:
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
