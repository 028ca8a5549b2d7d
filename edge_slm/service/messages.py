"""Every payload the daemon writes or reads on its own topics, as dataclasses (docs/DESIGN.md).

One place for the wire format, in the manner of the ``wyoming`` package: each message has
``to_dict`` and ``from_dict``; the engine returns a ``Parse`` and never builds JSON.
``from_dict`` is for clients and tests reading what the daemon wrote, and for the escalation
reply, which comes from another program: there every field is checked.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edge_slm.engine.nlu import Parse, Slot
from edge_slm.errors import ErrorCode
from edge_slm.home.model import Resolution, Target
from edge_slm.service.wire import safe_str


class Source(StrEnum):
    MQTT = "mqtt"
    HERMES = "hermes"
    VOICE = "voice"
    WYOMING = "wyoming"
    CLI = "cli"


class Reason(StrEnum):
    """Why a command was not published as an intent."""

    OUT_OF_SCOPE = "out_of_scope"
    LOW_CONFIDENCE = "low_confidence"
    NEEDS_TARGET = "needs_target"  # an action on devices with nothing in the home to act on
    INVALID_VALUE = "invalid_value"  # a number no device takes ("250 percent"), or words that are none
    CONTRADICTED = "contradicted"  # words that say the opposite of the action ("make the kitchen dark")


class State(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Guess:
    name: str | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": self.confidence}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Guess":
        return Guess(data.get("name"), float(data.get("confidence", 0.0)))


def slot_to_dict(slot: Slot) -> dict[str, Any]:
    return {"name": slot.name, "value": slot.value, "raw": slot.raw, "start": slot.start, "end": slot.end,
            "confidence": slot.confidence}


def slot_from_dict(data: dict[str, Any]) -> Slot:
    return Slot(data["name"], data["value"], data["raw"], int(data["start"]), int(data["end"]),
                float(data["confidence"]))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "ModelInfo":
        return ModelInfo(str(data.get("name", "")), str(data.get("version", "")))


@dataclass(frozen=True)
class IntentMessage:
    """``edge-slm/<site>/intent`` (and what ``edge-slm parse`` prints)."""

    id: str
    text: str
    source: Source
    intent: Guess  # name is None when not recognised
    best: Guess
    recognized: bool
    slots: tuple[Slot, ...]  # the engine's own slots: the wire shape is slot_to_dict's
    model: ModelInfo
    latency_ms: float
    response: str
    time: float = field(default_factory=time.time)
    asr: dict[str, Any] | None = None  # voice: recogniser, confidence, audio seconds, real-time factor
    # With a home description: the entities meant, the resolved area and floor ids, and the slots
    # whose words matched nothing in the home. None: no home is loaded.
    targets: tuple[Target, ...] | None = None
    area: str | None = None
    floor: str | None = None
    unresolved: tuple[str, ...] = ()
    # A compound command ("turn off the kitchen lights and lock the door"): one message per action.
    index: int = 0
    count: int = 1

    @staticmethod
    def from_parse(parse: Parse, *, id: str, source: Source, model: ModelInfo, latency_ms: float,
                   asr: dict[str, Any] | None = None, resolution: Resolution | None = None, index: int = 0,
                   count: int = 1, area: str | None = None) -> "IntentMessage":
        """``area``: without a home, the room the action acts in (see ``Decision.area``)."""
        home: dict[str, Any] = {"area": area}
        if resolution is not None:
            home = {"targets": resolution.targets, "area": resolution.area.id if resolution.area else None,
                    "floor": resolution.floor.id if resolution.floor else None, "unresolved": resolution.unresolved}
        return IntentMessage(
            id=id, text=parse.text, source=source,
            intent=Guess(parse.intent if parse.recognized else None, parse.confidence),
            best=Guess(parse.intent, parse.confidence), recognized=parse.recognized,
            slots=parse.slots,
            model=model, latency_ms=round(latency_ms, 3), response=parse.response, asr=asr, index=index,
            count=count, **home)

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "text": self.text, "source": str(self.source), "intent": self.intent.to_dict(),
                "best": self.best.to_dict(), "recognized": self.recognized,
                "slots": [slot_to_dict(s) for s in self.slots], "model": self.model.to_dict(),
                "latency_ms": self.latency_ms, "time": self.time, "response": self.response,
                "index": self.index, "count": self.count}
        if self.targets is not None or self.area is not None:
            data["area"] = self.area
        if self.targets is not None:
            data["targets"] = [t.to_dict() for t in self.targets]
            data["floor"] = self.floor
            if self.unresolved:
                data["unresolved"] = list(self.unresolved)
        if self.asr is not None:
            data["asr"] = self.asr
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "IntentMessage":
        return IntentMessage(
            id=data["id"], text=data["text"], source=Source(data["source"]),
            intent=Guess.from_dict(data["intent"]), best=Guess.from_dict(data.get("best", data["intent"])),
            recognized=bool(data.get("recognized", data["intent"].get("name") is not None)),
            slots=tuple(slot_from_dict(s) for s in data.get("slots", [])),
            model=ModelInfo.from_dict(data.get("model", {})), latency_ms=float(data.get("latency_ms", 0.0)),
            response=data.get("response", ""), time=float(data.get("time", 0.0)), asr=data.get("asr"),
            targets=None if "targets" not in data else tuple(Target(**t) for t in data["targets"]),
            area=data.get("area"), floor=data.get("floor"), unresolved=tuple(data.get("unresolved", ())),
            index=int(data.get("index", 0)), count=int(data.get("count", 1)))


@dataclass(frozen=True)
class ResponseMessage:
    """``edge-slm/<site>/response``: what to say."""

    id: str
    text: str
    intent: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "intent": self.intent}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "ResponseMessage":
        return ResponseMessage(data["id"], data["text"], data.get("intent"))


@dataclass(frozen=True)
class NotRecognizedMessage:
    """``edge-slm/<site>/not_recognized``."""

    id: str
    text: str
    best: Guess
    reason: Reason
    index: int = 0
    count: int = 1

    @staticmethod
    def from_parse(parse: Parse, id: str, out_of_scope: str | None, reason: Reason | None = None,
                   index: int = 0, count: int = 1) -> "NotRecognizedMessage":
        if reason is None:
            reason = Reason.OUT_OF_SCOPE if parse.intent == out_of_scope else Reason.LOW_CONFIDENCE
        return NotRecognizedMessage(id, parse.text, Guess(parse.intent, parse.confidence), reason, index, count)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "best": self.best.to_dict(), "reason": str(self.reason),
                "index": self.index, "count": self.count}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "NotRecognizedMessage":
        return NotRecognizedMessage(data["id"], data["text"], Guess.from_dict(data["best"]), Reason(data["reason"]),
                                    int(data.get("index", 0)), int(data.get("count", 1)))


@dataclass(frozen=True)
class ErrorMessage:
    """``edge-slm/<site>/error``: a command that was refused, with a stable code."""

    code: ErrorCode
    message: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": str(self.code), "message": safe_str(self.message, 500)}
        if self.id:
            data["id"] = safe_str(self.id)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "ErrorMessage":
        return ErrorMessage(ErrorCode(data["code"]), data["message"], data.get("id"))


@dataclass(frozen=True)
class StatusMessage:
    """``edge-slm/<site>/status``, retained; the offline one is also the last will."""

    state: State
    site: str
    model: ModelInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": str(self.state), "site": self.site}
        if self.model is not None:
            data["model"] = self.model.to_dict()
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "StatusMessage":
        model = data.get("model")
        return StatusMessage(State(data["state"]), data["site"], ModelInfo.from_dict(model) if model else None)


@dataclass(frozen=True)
class EscalationRequest:
    """``edge-slm/<site>/escalate``: a command the bundle did not understand, for a larger model."""

    id: str
    text: str
    site: str
    best: Guess

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "site": self.site, "best": self.best.to_dict()}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "EscalationRequest":
        return EscalationRequest(data["id"], data["text"], data["site"], Guess.from_dict(data["best"]))


_INTENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class EscalationReply:
    """``edge-slm/<site>/escalate/reply``, from another program: every field is checked."""

    id: str
    intent: str | None  # None: the larger model did not understand it either
    confidence: float = 1.0
    response: str | None = None
    model: str = "escalation"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "intent": {"name": self.intent, "confidence": self.confidence},
                                "model": self.model}
        if self.response is not None:
            data["response"] = self.response
        return data

    @staticmethod
    def from_dict(data: Any, max_response_chars: int = 1000) -> "EscalationReply":
        """Raises ValueError naming the first bad field."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("reply must be an object with a string 'id'")
        intent = data.get("intent", {})
        if not isinstance(intent, dict):
            raise ValueError("'intent' must be an object")
        name = intent.get("name")
        # A larger model may know intents this bundle does not; the name must still be a plain identifier.
        if name is not None and (not isinstance(name, str) or not _INTENT_NAME.fullmatch(name)):
            raise ValueError("'intent.name' must be an intent name (letters, digits, '_', '-', '.', at most 64)")
        confidence = intent.get("confidence", 1.0)
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
                or not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
            raise ValueError("'intent.confidence' must be a number from 0 to 1")
        response = data.get("response")
        if response is not None and (not isinstance(response, str) or len(response) > max_response_chars):
            raise ValueError(f"'response' must be a string of at most {max_response_chars} characters")
        model = data.get("model", "escalation")
        if not isinstance(model, str):
            raise ValueError("'model' must be a string")
        return EscalationReply(safe_str(data["id"]), name, float(confidence),
                               None if response is None else safe_str(response, len(response)), safe_str(model, 64))
