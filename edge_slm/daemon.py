"""The daemon: MQTT (and voice) in, engine in a worker thread, our topics + Hermes + HA out.

The network thread only decodes and queues; inference runs on the worker so a
slow parse never stalls keep-alives.  The queue is bounded: when full, the
command is answered ``overloaded`` rather than kept.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import hermes, homeassistant, sdnotify
from .config import Config
from .mqtt import QOS, CommandError, Topics, connect, decode_command, encode, make_client, reason_text
from .nlu import Engine, InputError, Parse
from .ratelimit import RateLimiter

log = logging.getLogger("edge_slm.daemon")


@dataclass
class Request:
    id: str
    text: str
    source: str  # "mqtt", "hermes" or "voice"
    received: float = field(default_factory=time.perf_counter)
    response_topic: str | None = None
    correlation: bytes | None = None
    ctx: hermes.Context | None = None
    intent_filter: list[str] | None = None


@dataclass
class _Pending:
    request: Request
    parse: Parse
    deadline: float


class Daemon:
    def __init__(self, config: Config, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine or Engine.load(
            config.model.bundle, threads=config.model.threads, optimization=config.model.optimization,
            threshold=config.model.confidence_threshold, cache_size=config.model.cache_size)
        self.topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self.queue: queue.Queue[Request | None] = queue.Queue(maxsize=config.limits.queue_size)
        self.limiter = RateLimiter(config.limits.rate_per_second, config.limits.burst)
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.heartbeat = time.monotonic()
        self.handled = 0
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        # Extra topics other parts (voice) answer: topic -> handler(payload).
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="edge-slm-worker", daemon=True)
        self._timer = threading.Thread(target=self._tick, name="edge-slm-timer", daemon=True)
        client_id = config.mqtt.client_id or f"edge-slm-{config.site.id}-{socket.gethostname()}"[:64]
        self.client = make_client(config, client_id, self.topics.status,
                                  encode({"state": "offline", "site": config.site.id}))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        log.info("starting", extra={"site": self.config.site.id, "broker": f"{self.config.mqtt.host}:{self.config.mqtt.port}",
                                    "protocol": self.config.mqtt.protocol, "model": self.engine.manifest.name,
                                    "model_version": self.engine.manifest.version})
        self._worker.start()
        self._timer.start()
        connect(self.client, self.config)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def run_forever(self) -> None:
        """Main thread: signals, escalation time-outs and the systemd watchdog."""
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        interval = sdnotify.watchdog_interval()
        ready_sent = False
        last_ping = 0.0
        while not self.stopping.is_set():
            if not ready_sent and self.connected.is_set():
                sdnotify.notify("READY=1\nSTATUS=serving")
                ready_sent = True
            now = time.monotonic()
            # Only a worker that still turns over keeps the watchdog fed.
            if interval and now - last_ping >= interval and now - self.heartbeat < 2 * interval + 1:
                sdnotify.notify("WATCHDOG=1")
                last_ping = now
            self.stopping.wait(0.1)
        self.stop()

    def stop(self, drain_timeout: float = 10.0) -> None:
        sdnotify.notify("STOPPING=1")
        self.stopping.set()
        try:
            self.client.unsubscribe(self._subscriptions())
        except Exception:  # a broker that is gone cannot be unsubscribed from
            pass
        self.queue.put(None)
        self._worker.join(drain_timeout)
        info = self.client.publish(self.topics.status, encode({"state": "offline", "site": self.config.site.id}),
                                   qos=QOS, retain=True)
        try:
            info.wait_for_publish(timeout=3)
        except (RuntimeError, ValueError):
            pass
        self.client.disconnect()
        self.client.loop_stop()
        log.info("stopped", extra={"handled": self.handled})

    # ------------------------------------------------------------ callbacks
    def _subscriptions(self) -> list[str]:
        command = self.topics.command
        if self.config.mqtt.shared_group:
            command = f"$share/{self.config.mqtt.shared_group}/{command}"
        topics = [command]
        if self.config.hermes.enabled:
            query = hermes.NLU_QUERY
            if self.config.mqtt.shared_group:
                query = f"$share/{self.config.mqtt.shared_group}/{query}"
            topics.append(query)
        if self.config.homeassistant.discovery:
            topics.append(homeassistant.STATUS_TOPIC)
        if self.config.escalation.enabled:
            topics.append(self.topics.escalate_reply)
        return topics + sorted(self.handlers)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection", extra={"reason": reason_text(reason_code),
                                                              "broker": f"{self.config.mqtt.host}:{self.config.mqtt.port}",
                                                              "username": self.config.mqtt.username or None})
            return
        client.subscribe([(t, QOS) for t in self._subscriptions()])
        client.publish(self.topics.status, encode({
            "state": "online", "site": self.config.site.id,
            "model": {"name": self.engine.manifest.name, "version": self.engine.manifest.version}}),
            qos=QOS, retain=True)
        self._publish_discovery()
        self.connected.set()
        log.info("connected", extra={"session_present": getattr(flags, "session_present", None)})

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("disconnected; reconnecting", extra={"reason": reason_text(reason_code)})

    def _publish_discovery(self) -> None:
        if not self.config.homeassistant.discovery:
            return
        for topic, payload in homeassistant.discovery_messages(
                self.topics, self.config.homeassistant.discovery_prefix, self.engine.manifest.name):
            self.client.publish(topic, encode(payload), qos=QOS, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._route(msg)
        except Exception:  # one bad message must never take the network thread down
            log.exception("message handling failed", extra={"topic": msg.topic})

    def _route(self, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic
        if topic in self.handlers:
            self.handlers[topic](msg.payload)
            return
        if topic == homeassistant.STATUS_TOPIC:
            if msg.payload.strip().lower() == b"online":
                self._publish_discovery()
            return
        if topic == self.topics.escalate_reply:
            self._escalation_reply(msg.payload)
            return
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        limits = self.config.limits
        if topic == hermes.NLU_QUERY:
            try:
                if len(msg.payload) > limits.max_payload_bytes:
                    raise CommandError("payload_too_large", f"payload is {len(msg.payload)} bytes")
                query = hermes.NluQuery.from_dict(json.loads(msg.payload.decode("utf-8")))
                if len(query.input) > limits.max_text_chars:
                    raise CommandError("text_too_long", f"text is {len(query.input)} characters", query.id)
            except CommandError as exc:
                self._error(exc.code, exc.message, exc.id)
                return
            except (ValueError, UnicodeDecodeError, AttributeError) as exc:
                self._error("invalid_hermes", f"hermes/nlu/query payload rejected ({exc})")
                return
            ctx = hermes.Context(query.site_id, query.session_id, query.id, query.custom_data)
            self.submit(Request(query.id or "", query.input, "hermes", ctx=ctx,
                                intent_filter=query.intent_filter))
            return
        try:
            command = decode_command(msg.payload, limits.max_payload_bytes, limits.max_text_chars)
        except CommandError as exc:
            self._error(exc.code, exc.message, exc.id, response_topic, correlation)
            return
        self.submit(Request(command.id, command.text, "mqtt", response_topic=response_topic,
                            correlation=correlation))

    # --------------------------------------------------------------- intake
    def submit(self, request: Request) -> bool:
        site = request.ctx.site_id if request.ctx else self.config.site.id
        if not self.limiter.allow(site):
            self._error("rate_limited", f"more than {self.config.limits.rate_per_second:g} commands/s for site {site}",
                        request.id or None, request.response_topic, request.correlation)
            return False
        try:
            self.queue.put_nowait(request)
        except queue.Full:
            self._error("overloaded", "the command queue is full; try again",
                        request.id or None, request.response_topic, request.correlation)
            return False
        return True

    # --------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            self.heartbeat = time.monotonic()
            try:
                request = self.queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if request is None:
                # Stop: answer what is already queued, then leave.
                while True:
                    try:
                        rest = self.queue.get_nowait()
                    except queue.Empty:
                        return
                    if rest is not None:
                        self._handle(rest)
            try:
                self._handle(request)
            except Exception:
                log.exception("command failed", extra={"id": request.id})
                self._error("internal_error", "the command could not be processed", request.id)

    def _handle(self, request: Request) -> None:
        try:
            parse = self.engine.parse(request.text)
        except InputError as exc:
            self._error(exc.code, exc.message, request.id or None, request.response_topic, request.correlation)
            return
        if request.intent_filter and parse.recognized and parse.intent not in request.intent_filter:
            parse = Parse(parse.text, parse.intent, parse.confidence, False, (),
                          self.engine.responder.render(None, {}))
        self.handled += 1
        log.debug("parsed", extra={"id": request.id, "text": request.text, "intent": parse.intent})
        if not parse.recognized and self.config.escalation.enabled:
            self._escalate(request, parse)
            return
        self._publish_parse(request, parse)

    def _publish_parse(self, request: Request, parse: Parse, model: dict[str, str] | None = None) -> None:
        latency = (time.perf_counter() - request.received) * 1000
        message = self.engine.message(parse, id=request.id, source="voice" if request.source == "voice" else "mqtt",
                                      latency_ms=latency)
        if model:
            message["model"] = model
        if parse.recognized:
            self._publish(self.topics.intent, message)
        else:
            self._publish(self.topics.not_recognized, {
                "id": request.id, "text": parse.text,
                "best": {"name": parse.intent, "confidence": parse.confidence}})
        self._publish(self.topics.response, {"id": request.id, "text": parse.response,
                                             "intent": parse.intent if parse.recognized else None})
        if request.response_topic:
            self._publish(request.response_topic, message, correlation=request.correlation)
        if self.config.hermes.enabled:
            ctx = request.ctx or hermes.Context(self.config.site.id, None, request.id)
            if parse.recognized:
                self._publish(hermes.intent_topic(parse.intent), hermes.nlu_intent(parse, ctx))
            else:
                self._publish(hermes.NOT_RECOGNIZED, hermes.not_recognized(parse.text, ctx))
            self._publish(hermes.TTS_SAY, hermes.tts_say(parse.response, ctx))
        log.info("answered", extra={"id": request.id, "source": request.source, "intent": parse.intent,
                                    "recognized": parse.recognized, "latency_ms": round(latency, 2)})

    def publish_raw(self, topic: str, message: dict[str, Any]) -> None:
        self._publish(topic, message)

    def _publish(self, topic: str, message: dict[str, Any], correlation: bytes | None = None) -> None:
        props = None
        if correlation is not None and self.config.mqtt.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        self.client.publish(topic, encode(message), qos=QOS, properties=props)
        for listener in self.listeners:
            listener(topic, message)

    def _error(self, code: str, message: str, id: str | None = None, response_topic: str | None = None,
               correlation: bytes | None = None) -> None:
        body: dict[str, Any] = {"code": code, "message": message}
        if id:
            body["id"] = id
        log.info("rejected", extra={"code": code, "id": id})
        self._publish(self.topics.error, body)
        if response_topic:
            self._publish(response_topic, {"error": body}, correlation=correlation)

    # ----------------------------------------------------------- escalation
    def _escalate(self, request: Request, parse: Parse) -> None:
        with self._pending_lock:
            self._pending[request.id] = _Pending(request, parse, time.monotonic() + self.config.escalation.timeout_s)
        self._publish(self.topics.escalate, {"id": request.id, "text": parse.text, "site": self.config.site.id,
                                             "best": {"name": parse.intent, "confidence": parse.confidence}})

    def _escalation_reply(self, payload: bytes) -> None:
        try:
            reply = json.loads(payload.decode("utf-8"))
            if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
                raise ValueError("reply must be an object with a string 'id'")
        except (ValueError, UnicodeDecodeError) as exc:
            self._error("invalid_escalation_reply", str(exc))
            return
        with self._pending_lock:
            pending = self._pending.pop(reply["id"], None)
        if pending is None:
            return  # late or foreign reply: the request was already answered
        intent = reply.get("intent") if isinstance(reply.get("intent"), dict) else {}
        name = intent.get("name") if isinstance(intent.get("name"), str) else None
        response = reply.get("response") if isinstance(reply.get("response"), str) else \
            pending.parse.response
        parse = Parse(pending.parse.text, name or pending.parse.intent,
                      float(intent.get("confidence", 1.0)) if name else pending.parse.confidence,
                      bool(name), (), response)
        self._publish_parse(pending.request, parse, model={"name": str(reply.get("model", "escalation")),
                                                           "version": ""})

    def _tick(self) -> None:
        while not self.stopping.wait(0.05):
            self._expire_escalations()

    def _expire_escalations(self) -> None:
        now = time.monotonic()
        with self._pending_lock:
            expired = [p for p in self._pending.values() if p.deadline <= now]
            for p in expired:
                self._pending.pop(p.request.id, None)
        for p in expired:
            self._publish_parse(p.request, p.parse)
