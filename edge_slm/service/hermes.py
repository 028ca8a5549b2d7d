"""Hermes protocol (Rhasspy 2.5 / Snips): the messages we read and write, as rhasspy-hermes defines them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_slm.engine.nlu import Parse, Slot
from edge_slm.service.wire import MAX_ID_CHARS, optional_str, safe_str

MAX_SITE_CHARS = 64
MAX_CUSTOM_DATA_CHARS = 1024

NLU_QUERY = "hermes/nlu/query"
NOT_RECOGNIZED = "hermes/nlu/intentNotRecognized"
TTS_SAY = "hermes/tts/say"
TEXT_CAPTURED = "hermes/asr/textCaptured"
START_LISTENING = "hermes/asr/startListening"
STOP_LISTENING = "hermes/asr/stopListening"


def intent_topic(name: str) -> str:
    return f"hermes/intent/{name}"


def hotword_topic(wakeword_id: str) -> str:
    return f"hermes/hotword/{wakeword_id}/detected"


@dataclass(frozen=True)
class NluQuery:
    input: str
    site_id: str = "default"
    id: str | None = None
    session_id: str | None = None
    intent_filter: list[str] | None = None
    custom_data: str | None = None

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "NluQuery":
        text = data.get("input")
        if not isinstance(text, str):
            raise ValueError("'input' must be a string")
        intent_filter = data.get("intentFilter")
        if intent_filter is not None and not (isinstance(intent_filter, list) and len(intent_filter) <= 1024
                                              and all(isinstance(i, str) for i in intent_filter)):
            raise ValueError("'intentFilter' must be a list of strings")
        # Every field below is echoed back: encodable and short whatever the client sent.
        return NluQuery(text, safe_str(data.get("siteId") or "default", MAX_SITE_CHARS),
                        optional_str(data.get("id"), MAX_ID_CHARS),
                        optional_str(data.get("sessionId"), MAX_ID_CHARS),
                        intent_filter, optional_str(data.get("customData"), MAX_CUSTOM_DATA_CHARS))


@dataclass(frozen=True)
class Context:
    """Where a request came from, so replies carry the same ids."""

    site_id: str
    session_id: str | None = None
    id: str | None = None
    custom_data: str | None = None


def hermes_slot(slot: Slot) -> dict[str, Any]:
    """One slot as rhasspy-hermes defines it (entity, slotName, rawValue, value {kind, value}, range)."""
    kind = "Number" if isinstance(slot.value, (int, float)) and not isinstance(slot.value, bool) else "Unknown"
    return {"entity": slot.name, "slotName": slot.name, "rawValue": slot.raw,
            "value": {"kind": kind, "value": slot.value}, "confidence": slot.confidence,
            "range": {"start": slot.start, "end": slot.end, "rawStart": slot.start, "rawEnd": slot.end}}


@dataclass(frozen=True)
class NluIntent:
    """``hermes/intent/<name>``."""

    text: str
    intent: str
    confidence: float
    slots: tuple[Slot, ...]
    ctx: Context

    @staticmethod
    def from_parse(parse: Parse, ctx: Context) -> "NluIntent":
        return NluIntent(parse.text, parse.intent, parse.confidence, parse.slots, ctx)

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.text, "rawInput": self.text,
                "intent": {"intentName": self.intent, "confidenceScore": self.confidence},
                "slots": [hermes_slot(s) for s in self.slots], "siteId": self.ctx.site_id,
                "sessionId": self.ctx.session_id, "id": self.ctx.id, "customData": self.ctx.custom_data,
                "asrTokens": [], "lang": None}


@dataclass(frozen=True)
class NotRecognized:
    """``hermes/nlu/intentNotRecognized``."""

    text: str
    ctx: Context

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.text, "siteId": self.ctx.site_id, "sessionId": self.ctx.session_id,
                "id": self.ctx.id, "customData": self.ctx.custom_data}


@dataclass(frozen=True)
class TtsSay:
    """``hermes/tts/say``."""

    text: str
    ctx: Context

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "siteId": self.ctx.site_id, "sessionId": self.ctx.session_id,
                "id": self.ctx.id, "lang": None}


@dataclass(frozen=True)
class TextCaptured:
    """``hermes/asr/textCaptured``."""

    text: str
    likelihood: float
    seconds: float
    ctx: Context
    wakeword_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "likelihood": self.likelihood, "seconds": self.seconds,
                "siteId": self.ctx.site_id, "sessionId": self.ctx.session_id, "wakewordId": self.wakeword_id,
                "asrTokens": [], "lang": None}


@dataclass(frozen=True)
class HotwordDetected:
    """``hermes/hotword/<wakeword id>/detected``."""

    model_id: str
    ctx: Context

    def to_dict(self) -> dict[str, Any]:
        return {"modelId": self.model_id, "modelVersion": "", "modelType": "personal", "currentSensitivity": 1.0,
                "siteId": self.ctx.site_id, "sessionId": self.ctx.session_id, "sendAudioCaptured": None,
                "lang": None, "customEntities": None}


@dataclass(frozen=True)
class ListenRequest:
    site_id: str
    session_id: str | None = None
    stop_on_silence: bool = True

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "ListenRequest":
        return ListenRequest(safe_str(data.get("siteId") or "default", MAX_SITE_CHARS),
                             optional_str(data.get("sessionId"), MAX_ID_CHARS),
                             bool(data.get("stopOnSilence", True)))
