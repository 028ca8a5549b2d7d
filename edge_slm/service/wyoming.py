"""Wyoming intent service: Home Assistant's conversation agent door, built on the ``wyoming`` package.

``describe`` -> ``info`` with one intent program; ``transcript`` (or ``recognize``) -> ``intent``
with Home Assistant's slot names as entities and our reply as its text (Home Assistant's intent
handlers mostly set no speech of their own; it speaks this one), or ``not-recognized``; a compound command -> ``intents-start``, ``intent``...,
``intents-stop``.  Understanding is the MQTT path's own (``parse_all`` + ``decide``), on one
worker thread, with the same text limits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, IntentModel, IntentProgram
from wyoming.intent import (
    Entity,
    Intent,
    IntentsStart,
    IntentsStop,
    NotRecognized,
    Recognize,
)
from wyoming.server import AsyncEventHandler, AsyncServer

from edge_slm import __version__
from edge_slm.engine.compound import parse_all
from edge_slm.engine.nlu import Engine, InputError, Parse
from edge_slm.errors import ErrorCode
from edge_slm.home.model import Resolution
from edge_slm.service.config import Config
from edge_slm.service.decide import decide
from edge_slm.service.homefile import HomeFile
from edge_slm.service.limits import RateLimiter

log = logging.getLogger("edge_slm.service.wyoming")


class Understanding:
    """Text in, the actions to publish out: one worker, so the engine is never run twice at once."""

    def __init__(self, engine: Engine, config: Config, home: HomeFile) -> None:
        self.engine, self.config, self.home = engine, config, home
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-slm-wyoming")
        self.lock = threading.Lock()
        # The channel's own bucket, as for MQTT and Hermes: a looping client cannot take the CPU.
        self.limiter = RateLimiter(config.limits.rate_per_second, config.limits.burst)

    def understand(self, text: str) -> list[tuple[Parse, Resolution | None, Any]]:
        if not self.limiter.allow("wyoming"):
            raise InputError(ErrorCode.RATE_LIMITED, f"more than {self.config.limits.rate_per_second:g} "
                                                     "commands/s on the wyoming channel")
        if len(text) > self.config.limits.max_text_chars:
            raise InputError("text_too_long", f"text is {len(text)} characters")
        with self.lock:
            self.home.poll()
            parses = parse_all(self.home.parser(self.engine), text)
            return [decide(p, self.engine.responder, self.home.resolver, self.config.site.area or None,
                           self.config.model.action_threshold) for p in parses]


# Home Assistant checks device_class against its own enums ("blinds" is "invalid slot info").
_DEVICE_CLASSES = frozenset({"awning", "blind", "curtain", "damper", "door", "garage", "gate", "shade", "shutter",
                             "window", "tv", "speaker", "receiver", "outlet", "switch", "water", "gas"})
_DEVICE_CLASS_WORDS = {"garage door": "garage", "garage doors": "garage", "television": "tv", "tvs": "tv",
                       "plug": "outlet", "plugs": "outlet", "socket": "outlet", "sockets": "outlet",
                       "blinds": "blind", "shades": "shade", "shutters": "shutter", "curtains": "curtain",
                       "awnings": "awning", "dampers": "damper", "doors": "door", "gates": "gate",
                       "windows": "window", "speakers": "speaker", "receivers": "receiver", "outlets": "outlet"}


def device_class(said: object) -> str | None:
    """The words said as one of Home Assistant's device classes, or None when they are not one."""
    word = " ".join(str(said).lower().split())
    word = _DEVICE_CLASS_WORDS.get(word, word)
    return word if word in _DEVICE_CLASSES else None


def entities(parse: Parse, resolution: Resolution | None = None) -> list[Entity]:
    """Home Assistant's slot names and values. Said words, except where the home resolved them: then
    the names Home Assistant itself uses ("kitchn" -> "Kitchen", "grandma's lamp" -> "Grandma's Lamp"),
    which its own matching then finds exactly."""
    resolved: dict[str, str] = {}
    if resolution is not None:
        if resolution.name and any(s.name == "name" for s in parse.slots):
            resolved["name"] = resolution.name
        if resolution.area is not None:
            resolved["area"] = resolution.area.name
        if resolution.floor is not None:
            resolved["floor"] = resolution.floor.name
    out = []
    for s in parse.slots:
        value = resolved.get(s.name, s.value if isinstance(s.value, (int, float)) else s.raw)
        if s.name == "device_class":
            value = device_class(value)
            if value is None:
                continue  # said words that name no class: the domain and the targets still narrow it
        out.append(Entity(name=s.name, value=value))
    said = {s.name for s in parse.slots}
    if resolution is not None and "name" not in said:
        if "area" in resolved and "area" not in said:
            out.append(Entity(name="area", value=resolved["area"]))  # the satellite's own area ([site] area)
        # "the kitchen lights": the domain the words implied (or that every target shares), so that
        # Home Assistant does not turn off everything else in the kitchen as well.
        domains = resolution.domains or frozenset(t.domain for t in resolution.targets)
        if len(domains) == 1 and "domain" not in said:
            out.append(Entity(name="domain", value=next(iter(domains))))
    return out


def speech(parse: Parse) -> str | None:
    """The spoken reply. Home Assistant's intent handlers set none for most intents and it renders
    what we send as a template: braces are removed so that words a user said (or a hostile client
    sent) never become template code run in Home Assistant."""
    text = _BRACES.sub("", parse.response).strip()
    return text or None


_BRACES = re.compile(r"[{}]")


def info(engine: Engine) -> Info:
    manifest = engine.manifest
    return Info(intent=[IntentProgram(
        name="edge-slm", attribution=Attribution(name="edge-slm", url=""),
        installed=True, description="Offline intent recognition with a distilled transformer",
        version=__version__,
        models=[IntentModel(name=manifest.name, languages=[manifest.language], installed=True,
                            attribution=Attribution(name="edge-slm", url=""),
                            description=f"bundle {manifest.name} {manifest.version}", version=manifest.version)])])


class Handler(AsyncEventHandler):
    def __init__(self, understanding: Understanding, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.understanding = understanding

    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                await self.write_event(info(self.understanding.engine).event())
                return True
            if Transcript.is_type(event.type):
                text = Transcript.from_event(event).text
            elif Recognize.is_type(event.type):
                text = Recognize.from_event(event).text
            else:
                return True  # events of other programs: not ours to answer, and no reason to hang up
            await self._answer(text)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A malformed event from a client: answered, logged, connection kept.
            log.warning("bad wyoming event", extra={"type": str(getattr(event, "type", "?"))[:64],
                                                    "reason": str(exc)[:200]})
            await self.write_event(NotRecognized(text="Sorry, that request was malformed.").event())
        return True

    async def _answer(self, text: str) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            judged = await loop.run_in_executor(self.understanding.executor,
                                                partial(self.understanding.understand, text))
        except InputError as exc:
            await self.write_event(NotRecognized(text=exc.message).event())
            return
        actions = [(p, r) for p, r, _ in judged if p.recognized]
        if not actions:
            await self.write_event(NotRecognized(text=judged[0][0].response).event())
        elif len(actions) == 1:
            await self.write_event(Intent(name=actions[0][0].intent, entities=entities(*actions[0]),
                                            text=speech(actions[0][0])).event())
        else:
            await self.write_event(IntentsStart().event())
            for parse, resolution in actions:
                await self.write_event(Intent(name=parse.intent, entities=entities(parse, resolution),
                                                  text=speech(parse)).event())
            await self.write_event(IntentsStop().event())
        log.info("answered", extra={"source": "wyoming", "intents": [p.intent for p, _ in actions],
                                    "latency_ms": round((time.perf_counter() - started) * 1000, 2)})


async def serve(uri: str, understanding: Understanding, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    server = AsyncServer.from_uri(uri)
    await server.start(partial(Handler, understanding))
    log.info("wyoming service listening", extra={"uri": uri})
    announcement = None
    config = understanding.config
    if config.wyoming.zeroconf:
        from edge_slm.service.announce import Announcement

        announcement = Announcement(uri, f"edge-slm-{config.site.id}")
        await asyncio.get_running_loop().run_in_executor(None, announcement.start)
    try:
        await stop.wait()
    finally:
        if announcement is not None:
            await asyncio.get_running_loop().run_in_executor(None, announcement.stop)
        await server.stop()


class WyomingThread:
    """The service beside the MQTT daemon, in a thread of its own with its own event loop."""

    def __init__(self, uri: str, understanding: Understanding) -> None:
        self.uri, self.understanding = uri, understanding
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name="edge-slm-wyoming-server", daemon=True)
        self.failed: BaseException | None = None

    def start(self) -> "WyomingThread":
        self.thread.start()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(serve(self.uri, self.understanding, self._stop))
        except BaseException as exc:  # noqa: BLE001 - a port in use: said once, MQTT keeps working
            self.failed = exc
            log.error("wyoming service stopped", extra={"uri": self.uri, "reason": str(exc)})

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(5)
        self.understanding.executor.shutdown(wait=False)
