"""Publishing decisions as messages: what goes out, on which topic, for one answered request.

Pure: decisions in, ``Outgoing`` messages out, in the order they must be published (the last one's
acknowledgement by the broker covers every earlier one). The transport publishes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from edge_slm.errors import ErrorCode
from edge_slm.home.model import Resolution
from edge_slm.service import hermes
from edge_slm.service.decide import Decision
from edge_slm.service.intake import Request
from edge_slm.service.messages import (
    ErrorMessage,
    IntentMessage,
    ModelInfo,
    NotRecognizedMessage,
    ResponseMessage,
    Source,
)
from edge_slm.service.mqtt import Topics


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: dict[str, Any]
    correlation: bytes | None = None


def intent_messages(id: str, decisions: Sequence[Decision], source: Source, model: ModelInfo, latency_ms: float,
                    home_loaded: bool, asr: dict[str, Any] | None = None) -> list[IntentMessage]:
    """The intent message of each action, as the intent topic carries it (``parse`` and ``listen``
    print these; a refused action is one with ``recognized`` false)."""
    out = []
    for index, decision in enumerate(decisions):
        resolution = decision.resolution
        if resolution is None and home_loaded and decision.recognized:
            resolution = Resolution()  # a home is loaded: targets are always present, empty here
        out.append(IntentMessage.from_parse(decision.parse, id=id, source=source, model=model, latency_ms=latency_ms,
                                            resolution=resolution, index=index, count=len(decisions), asr=asr,
                                            area=decision.area))
    return out


def printed_messages(id: str, decisions: Sequence[Decision], source: Source, model: ModelInfo, latency_ms: float,
                     home_loaded: bool, asr: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What ``parse`` and ``listen`` print: each action's intent message, a refused one with its reason."""
    out = []
    for decision, message in zip(decisions, intent_messages(id, decisions, source, model, latency_ms, home_loaded,
                                                            asr)):
        body = message.to_dict()
        if decision.reason is not None:
            body["reason"] = str(decision.reason)
        out.append(body)
    return out


@dataclass(frozen=True)
class Outbox:
    topics: Topics
    site_id: str
    model: ModelInfo
    out_of_scope: str | None
    hermes: bool = True

    def answer(self, request: Request, decisions: Sequence[Decision], home_loaded: bool,
               model: ModelInfo | None = None) -> list[Outgoing]:
        """One intent (or not_recognized) message per action, sharing the command's id with index and
        count; one response and one Hermes tts/say for the whole command."""
        latency = (time.perf_counter() - request.received) * 1000
        count = len(decisions)
        ctx = request.ctx or hermes.Context(self.site_id, None, request.id)
        out: list[Outgoing] = []
        messages = intent_messages(request.id, decisions, request.source, model or self.model, latency, home_loaded)
        for index, (decision, intent) in enumerate(zip(decisions, messages)):
            parse, message = decision.parse, intent.to_dict()
            if parse.recognized:
                out.append(Outgoing(self.topics.intent, message))
            else:
                out.append(Outgoing(self.topics.not_recognized, NotRecognizedMessage.from_parse(
                    parse, request.id, self.out_of_scope, decision.reason, index, count).to_dict()))
            if request.response_topic:
                out.append(Outgoing(request.response_topic, message, request.correlation))
            if self.hermes:
                if parse.recognized:
                    out.append(Outgoing(hermes.intent_topic(parse.intent),
                                        hermes.NluIntent.from_parse(parse, ctx).to_dict()))
                else:
                    out.append(Outgoing(hermes.NOT_RECOGNIZED, hermes.NotRecognized(parse.text, ctx).to_dict()))
        first = decisions[0].parse
        # Said as sentences, one per action: "Turned off the lights in the Kitchen. Turned on the Porch Light"
        response = ". ".join(d.parse.response.rstrip(".") for d in decisions if d.parse.response) if count > 1 \
            else first.response
        out.append(Outgoing(self.topics.response, ResponseMessage(
            request.id, response, first.intent if first.recognized else None).to_dict()))
        if self.hermes:
            out.append(Outgoing(hermes.TTS_SAY, hermes.TtsSay(response, ctx).to_dict()))
        return out

    def error(self, code: ErrorCode, message: str, id: str | None = None, response_topic: str | None = None,
              correlation: bytes | None = None) -> list[Outgoing]:
        body = ErrorMessage(code, message, id).to_dict()
        out = [Outgoing(self.topics.error, body)]
        if response_topic:
            out.append(Outgoing(response_topic, {"error": body}, correlation))
        return out
