"""Intake: broker messages become requests on the worker's queue.

Each message is decoded (``protocol``), its response topic checked, given a duplicate key, rate
limited per channel and queued; anything refused is a ``RefusedInput`` the daemon answers on the
error topic. The network thread only does this: inference runs on the worker.
"""

from __future__ import annotations

import hashlib
import queue
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.service import hermes, homeassistant
from edge_slm.service.acks import Delivery
from edge_slm.service.config import Config
from edge_slm.service.limits import RateLimiter
from edge_slm.service.messages import Source
from edge_slm.service.mqtt import Topics, response_topic_refusal
from edge_slm.service.protocol import decode_command, decode_hermes_query
from edge_slm.service.recent import RecentIds


@dataclass
class Request:
    """One command on its way through the daemon, from intake to its answers."""

    id: str
    text: str
    source: Source
    received: float = field(default_factory=time.perf_counter)
    response_topic: str | None = None
    correlation: bytes | None = None
    ctx: hermes.Context | None = None
    intent_filter: list[str] | None = None
    area: str | None = None  # the room it was said in (a satellite's); None: [site] area
    delivery: Delivery | None = None  # the QoS 1 message to acknowledge once answered
    key: str | None = None  # the duplicate-detection key; None = not checked
    redelivered: bool = False

    def is_duplicate(self, recent: RecentIds) -> bool:
        """A client id answered before, or a redelivered payload answered before."""
        if self.key is None:
            return False
        return (":id:" in self.key or self.redelivered) and self.key in recent


class Intake:
    def __init__(self, config: Config, topics: Topics) -> None:
        self.config, self.topics = config, topics
        self.own_topics = {topics.command, topics.intent, topics.response, topics.status, topics.not_recognized,
                           topics.error, topics.escalate, topics.escalate_reply}
        self.queue: queue.Queue[Request | None] = queue.Queue(maxsize=config.limits.queue_size)
        self.limiter = RateLimiter(config.limits.rate_per_second, config.limits.burst)

    def subscriptions(self, extra: list[str]) -> list[str]:
        """What the daemon listens to: commands (shared among daemons with ``[mqtt] shared_group``),
        Hermes queries, Home Assistant's birth message, escalation replies, and ``extra`` (voice's)."""
        group = self.config.mqtt.shared_group
        shared = (lambda t: f"$share/{group}/{t}") if group else (lambda t: t)
        topics = [shared(self.topics.command)]
        if self.config.hermes.enabled:
            topics.append(shared(hermes.NLU_QUERY))
        if self.config.homeassistant.discovery:
            topics.append(homeassistant.STATUS_TOPIC)
        if self.config.escalation.enabled:
            topics.append(self.topics.escalate_reply)
        return topics + extra

    def request(self, msg: mqtt.MQTTMessage, delivery: Delivery | None) -> Request:
        """The request a command or Hermes query asks for; raises RefusedInput."""
        limits = self.config.limits
        if msg.topic == hermes.NLU_QUERY:
            query = decode_hermes_query(msg.payload, limits.max_payload_bytes, limits.max_text_chars)
            ctx = hermes.Context(query.site_id, query.session_id, query.id, query.custom_data)
            return Request(query.id or "", query.input, Source.HERMES, ctx=ctx, intent_filter=query.intent_filter,
                           area=self.config.hermes.site_areas.get(query.site_id), delivery=delivery,
                           key=_key("hermes", query.id, msg), redelivered=bool(msg.dup))
        command = decode_command(msg.payload, limits.max_payload_bytes, limits.max_text_chars)
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        if response_topic is not None:
            refusal = response_topic_refusal(response_topic, self.topics, self.config.mqtt.response_topics,
                                             self.own_topics)
            if refusal:
                raise RefusedInput(ErrorCode.INVALID_FIELD, refusal, command.id)
        client_id = None if command.generated_id else command.id
        return Request(command.id, command.text, Source.MQTT, response_topic=response_topic, correlation=correlation,
                       area=command.area, delivery=delivery, key=_key("mqtt", client_id, msg),
                       redelivered=bool(msg.dup))

    def submit(self, request: Request) -> None:
        """Queue a request; raises RefusedInput (rate_limited, overloaded) when it is not taken."""
        # Buckets per channel, never per client-chosen field: a Hermes siteId is whatever the sender says.
        if not self.limiter.allow(f"{request.source.value}:{self.config.site.id}"):
            raise RefusedInput(ErrorCode.RATE_LIMITED, f"more than {self.config.limits.rate_per_second:g} "
                                                       f"commands/s on the {request.source.value} channel",
                               request.id or None)
        try:
            self.queue.put_nowait(request)
        except queue.Full:
            raise RefusedInput(ErrorCode.OVERLOADED, "the command queue is full; try again",
                               request.id or None) from None


def _key(source: str, client_id: str | None, msg: Any) -> str:
    """Duplicate key: the client's id, else the payload's digest (checked only on redelivery)."""
    if client_id:
        return f"{source}:id:{client_id}"
    return f"{source}:payload:{hashlib.blake2b(msg.payload, digest_size=12).hexdigest()}"
