"""Wyoming intent service: Home Assistant's conversation agent door, built on the ``wyoming`` package.

``describe`` -> ``info`` with one intent program; ``transcript`` (or ``recognize``) -> ``intent``
with Home Assistant's slot names as entities and our reply as its text (Home Assistant's intent
handlers mostly set no speech of their own; it speaks this one), or ``not-recognized``; a compound command -> ``intents-start``, ``intent``...,
``intents-stop``.  Understanding is the MQTT path's own (``Understander``), on the one engine
thread every channel shares, with the same text limits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
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
from edge_slm.engine.nlu import Engine, Parse
from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.home.model import Resolution
from edge_slm.home.words import domains_said
from edge_slm.service import answers
from edge_slm.service.config import Config
from edge_slm.service.decide import Decision
from edge_slm.service.limits import RateLimiter
from edge_slm.service.understand import Understander

log = logging.getLogger("edge_slm.service.wyoming")


class Channel:
    """The Wyoming channel's door to understanding: its own rate limit, as for MQTT and Hermes (a
    looping client cannot take the CPU), then the one engine thread every channel shares."""

    def __init__(self, understander: Understander, config: Config) -> None:
        self.understander, self.config = understander, config
        self.limiter = RateLimiter(config.limits.rate_per_second, config.limits.burst)

    @property
    def engine(self) -> Engine:
        return self.understander.engine

    async def understand(self, text: str, context: object = None) -> list[Decision]:
        """``context``: the Transcript's, where Home Assistant names the satellite's device; its area
        (from the home) is the room the command was said in. Raises RefusedInput (rate limited, or
        text the engine will not take)."""
        if not self.limiter.allow("wyoming"):
            raise RefusedInput(ErrorCode.RATE_LIMITED, f"more than {self.config.limits.rate_per_second:g} "
                                                       "commands/s on the wyoming channel")
        device_id, satellite_id = source_ids(context)
        area = self.understander.area_of_device(device_id, satellite_id) if device_id or satellite_id else None
        return await asyncio.wrap_future(self.understander.submit(text, area))


MAX_ID_CHARS = 128


def source_ids(context: object) -> tuple[str | None, str | None]:
    """The device and satellite ids of an untrusted Transcript context (anything else: None)."""
    if not isinstance(context, dict):
        return None, None

    def checked(value: object) -> str | None:
        return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None

    return checked(context.get("device_id")), checked(context.get("satellite_id"))


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
    if "name" in said or "domain" in said:
        return out
    if resolution is not None and "area" in resolved and "area" not in said:
        out.append(Entity(name="area", value=resolved["area"]))  # the satellite's own area ([site] area)
    # "the kitchen lights", "are any lights on": the domain the words imply (or that every target
    # shares), so that Home Assistant does not turn off everything else in the kitchen as well.
    domains = (resolution.domains or frozenset(t.domain for t in resolution.targets)) if resolution else frozenset()
    if not domains:
        domains = domains_said(parse.said)
    if len(domains) == 1:
        out.append(Entity(name="domain", value=next(iter(domains))))
    return out


def speech(parse: Parse) -> str | None:
    """The spoken reply. Home Assistant's intent handlers set none for most intents and it renders
    what we send as a template: a question gets one of our own fixed templates (answers.py), which
    Home Assistant fills with the states it matched; any other reply has its braces removed, so that
    words a user said (or a hostile client sent) never become template code run in Home Assistant."""
    answer = answers.template(parse)
    if answer is not None:
        return answer
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
    def __init__(self, channel: Channel, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel

    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                await self.write_event(info(self.channel.engine).event())
                return True
            context = None
            if Transcript.is_type(event.type):
                transcript = Transcript.from_event(event)
                text, context = transcript.text, transcript.context
            elif Recognize.is_type(event.type):
                text = Recognize.from_event(event).text
            else:
                return True  # events of other programs: not ours to answer, and no reason to hang up
            await self._answer(text, context)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A malformed event from a client: answered, logged, connection kept.
            log.warning("bad wyoming event", extra={"type": str(getattr(event, "type", "?"))[:64],
                                                    "reason": str(exc)[:200]})
            await self.write_event(NotRecognized(text="Sorry, that request was malformed.").event())
        return True

    async def _answer(self, text: str, context: object = None) -> None:
        started = time.perf_counter()
        try:
            decisions = await self.channel.understand(text, context)
        except RefusedInput as exc:
            await self.write_event(NotRecognized(text=exc.message).event())
            return
        actions = [(d.parse, d.resolution) for d in decisions if d.recognized]
        if not actions:
            await self.write_event(NotRecognized(text=decisions[0].parse.response).event())
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


async def serve(uri: str, channel: Channel, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    server = AsyncServer.from_uri(uri)
    await server.start(partial(Handler, channel))
    log.info("wyoming service listening", extra={"uri": uri})
    announcement = None
    config = channel.config
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
    """The service beside the MQTT daemon, in a thread of its own with its own event loop; a daemon
    ``Component``: if it stops (a port in use, a crash), the daemon stops with it and says why."""

    name = "wyoming"

    def __init__(self, uri: str, channel: Channel) -> None:
        self.uri, self.channel = uri, channel
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="edge-slm-wyoming-server", daemon=True)
        self.failed: str | None = None

    def start(self) -> "WyomingThread":
        self.thread.start()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(serve(self.uri, self.channel, self._stop))
        except BaseException as exc:  # noqa: BLE001 - reported through failure(), the daemon exits
            self.failed = f"cannot serve {self.uri} ({getattr(exc, 'strerror', None) or exc})"
            log.error("wyoming service stopped", extra={"uri": self.uri, "reason": self.failed})

    def failure(self) -> str | None:
        if self.failed is not None:
            return self.failed
        if not self.thread.is_alive() and self.thread.ident is not None and not self._stopping:
            return "the server thread ended"
        return None

    def stop(self) -> None:
        self._stopping = True
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(5)
