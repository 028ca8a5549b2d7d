"""The daemon: MQTT (and voice) in, engine in a worker thread, our topics + Hermes + HA out.

The network thread only decodes and queues; inference runs on the worker so a
slow parse never stalls keep-alives.  The queue is bounded: when full, the
command is answered ``overloaded`` rather than kept.  A QoS 1 command is
acknowledged only after its answer reached the broker, and a command id already
answered is answered ``duplicate``: at least once, never twice.
"""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_slm.engine.compound import parse_all
from edge_slm.engine.nlu import Engine, InputError, Parse
from edge_slm.errors import ErrorCode
from edge_slm.home.model import Resolution
from edge_slm.service import hermes, homeassistant, sdnotify
from edge_slm.service.acks import Acks, Delivery
from edge_slm.service.config import Config
from edge_slm.service.decide import decide
from edge_slm.service.homefile import HomeFile
from edge_slm.service.limits import RateLimiter
from edge_slm.service.messages import (
    ErrorMessage,
    EscalationReply,
    EscalationRequest,
    Guess,
    IntentMessage,
    ModelInfo,
    NotRecognizedMessage,
    Reason,
    ResponseMessage,
    Source,
    State,
    StatusMessage,
)
from edge_slm.service.mqtt import (
    QOS,
    CommandError,
    Topics,
    connect,
    decode_command,
    make_client,
    reason_text,
    response_topic_refusal,
)
from edge_slm.service.recent import RecentIds
from edge_slm.service.wire import UntrustedJsonError, encode, loads_untrusted, safe_str

log = logging.getLogger("edge_slm.service.daemon")
DISCOVERY_MIN_INTERVAL_S = 10.0
TAKEOVER = "Session taken over"


@dataclass
class Request:
    id: str
    text: str
    source: Source
    received: float = field(default_factory=time.perf_counter)
    response_topic: str | None = None
    correlation: bytes | None = None
    ctx: hermes.Context | None = None
    intent_filter: list[str] | None = None
    delivery: Delivery | None = None  # the QoS 1 message to acknowledge once answered
    key: str | None = None  # the duplicate-detection key; None = not checked
    redelivered: bool = False


@dataclass
class _Pending:
    request: Request
    parse: Parse
    deadline: float


class Daemon:
    def __init__(self, config: Config, engine: Engine | None = None, ack_after_answer: bool = True) -> None:
        """``ack_after_answer=False`` acknowledges on arrival (the old way; kept for the benchmark's comparison)."""
        self.config = config
        self.engine = engine or Engine.load(
            config.model.bundle, threads=config.model.threads, optimization=config.model.optimization,
            threshold=config.model.confidence_threshold, cache_size=config.model.cache_size,
            trusted_keys=config.model.trusted_keys)
        self.topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self.queue: queue.Queue[Request | None] = queue.Queue(maxsize=config.limits.queue_size)
        self.limiter = RateLimiter(config.limits.rate_per_second, config.limits.burst)
        self.recent = RecentIds(config.limits.duplicate_window_s, state_dir=config.service.state_path() or None)
        self.home = HomeFile(config.home.file or None)
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.heartbeat = time.monotonic()
        self.handled = 0
        self.exit_code = 0
        # Extra topics other parts (voice) answer: topic -> handler(payload).
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._discovery_last = -math.inf
        self._discovery_due: float | None = None
        self._connected_at = 0.0
        self._quick_drops: list[float] = []
        self._worker = threading.Thread(target=self._work, name="edge-slm-worker", daemon=True)
        self._timer = threading.Thread(target=self._tick, name="edge-slm-timer", daemon=True)
        self.client_id = config.mqtt.client_id or f"edge-slm-{config.site.id}-{socket.gethostname()}"[:64]
        self.model = ModelInfo(self.engine.manifest.name, self.engine.manifest.version)
        self.client = make_client(config, self.client_id, self.topics.status,
                                  encode(StatusMessage(State.OFFLINE, config.site.id).to_dict()))
        self.client.manual_ack_set(ack_after_answer)
        self.acks = Acks(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = lambda client, userdata, mid, *rest: self.acks.on_publish(mid)
        self._own_topics = {self.topics.command, self.topics.intent, self.topics.response, self.topics.status,
                            self.topics.not_recognized, self.topics.error, self.topics.escalate,
                            self.topics.escalate_reply}

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        log.info("starting", extra={"site": self.config.site.id, "broker": self._broker(),
                                    "protocol": self.config.mqtt.protocol, "model": self.engine.manifest.name,
                                    "model_version": self.engine.manifest.version})
        self._worker.start()
        self._timer.start()
        log.info("connecting to the broker", extra={"broker": self._broker(), "client_id": self.client_id,
                                                    "tls": bool(self.config.mqtt.tls_ca)})
        connect(self.client, self.config)
        self.client.loop_start()

    def _broker(self) -> str:
        return f"{self.config.mqtt.host}:{self.config.mqtt.port}"

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def run_forever(self) -> int:
        """Main thread: signals, the systemd watchdog, and the health of the other threads.

        Returns the process exit status: 0 after a stop that was asked for, 1 when a
        component died (systemd then restarts the service).
        """
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
            signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
            signal.signal(signal.SIGHUP, lambda *_: self.home.request_reload())
        interval = sdnotify.watchdog_interval()
        ready_sent = False
        last_ping = 0.0
        while not self.stopping.is_set():
            if not ready_sent and self.connected.is_set():
                sdnotify.notify("READY=1\nSTATUS=serving")
                ready_sent = True
            dead = [t.name for t in (self._worker, self._timer) if not t.is_alive()]
            if dead:
                # Say so instead of sitting "online" with nobody answering: offline, no watchdog, exit 1.
                log.critical("a component stopped; exiting so that the service is restarted",
                             extra={"threads": dead})
                self.exit_code = 1
                break
            now = time.monotonic()
            # Only a worker that still turns over keeps the watchdog fed.
            if interval and now - last_ping >= interval and now - self.heartbeat < 2 * interval + 1:
                sdnotify.notify("WATCHDOG=1")
                last_ping = now
            self.stopping.wait(0.1)
        self.stop()
        return self.exit_code

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Finish what was taken, keep the broker session: commands sent meanwhile wait for the restart.

        Nothing is unsubscribed (a persistent session keeps queueing QoS 1 commands for us), what
        is queued is answered, and the broker's acknowledgements of those answers are awaited.
        """
        sdnotify.notify("STOPPING=1")
        self.stopping.set()
        if self._worker.is_alive():
            try:
                self.queue.put(None, timeout=drain_timeout)
            except queue.Full:
                pass
            self._worker.join(drain_timeout)
        deadline = time.monotonic() + 3
        while self.acks.pending() and self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        info = self.client.publish(self.topics.status,
                                   encode(StatusMessage(State.OFFLINE, self.config.site.id).to_dict()),
                                   qos=QOS, retain=True)
        try:
            info.wait_for_publish(timeout=3)
        except (RuntimeError, ValueError):
            pass
        self.client.disconnect()
        self.client.loop_stop()
        self.recent.close()
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
                                                              "broker": self._broker(),
                                                              "username": self.config.mqtt.username or None})
            return
        self.acks.connected()
        self._connected_at = time.monotonic()
        client.subscribe([(t, QOS) for t in self._subscriptions()])
        client.publish(self.topics.status,
                       encode(StatusMessage(State.ONLINE, self.config.site.id, self.model).to_dict()),
                       qos=QOS, retain=True)
        self._publish_discovery()
        self.connected.set()
        log.info("connected", extra={"broker": self._broker(),
                                     "session_present": getattr(flags, "session_present", None)})

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("broker unreachable; retrying", extra={"broker": self._broker(), "reason": self._probe()})

    def _probe(self) -> str:
        """Why a TCP connection to the broker fails (paho does not say)."""
        try:
            with socket.create_connection((self.config.mqtt.host, self.config.mqtt.port), timeout=2):
                return "TCP connects; the MQTT handshake failed (TLS or protocol mismatch?)"
        except OSError as exc:
            return exc.strerror or str(exc) or type(exc).__name__

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.connected.clear()
        if self.stopping.is_set():
            return
        reason = reason_text(reason_code)
        now = time.monotonic()
        if now - self._connected_at < 10:
            self._quick_drops = [t for t in self._quick_drops if now - t < 60] + [now]
        if reason == TAKEOVER or len(self._quick_drops) >= 3:
            # Two daemons with one client id throw each other off forever; name the likely cause.
            log.error("client id collision: another client connected with this client id and took the session; "
                      "give each daemon its own [mqtt] client_id",
                      extra={"client_id": self.client_id, "broker": self._broker(), "reason": reason})
            self._quick_drops.clear()
            return
        log.warning("disconnected; reconnecting", extra={"reason": reason, "broker": self._broker()})

    def _publish_discovery(self) -> None:
        if not self.config.homeassistant.discovery:
            return
        manifest = self.engine.manifest
        intents = tuple(i for i in manifest.intents if i != manifest.out_of_scope)
        for topic, payload in homeassistant.discovery_messages(
                self.topics, self.config.homeassistant.discovery_prefix, manifest.name, intents):
            self.client.publish(topic, encode(payload), qos=QOS, retain=True)

    def _on_birth(self) -> None:
        """Home Assistant came online: re-publish discovery, at most once per interval.

        Anyone may publish "online" there; a flood of 2,000 costs one round now and one later.
        """
        now = time.monotonic()
        if now - self._discovery_last < DISCOVERY_MIN_INTERVAL_S:
            self._discovery_due = self._discovery_last + DISCOVERY_MIN_INTERVAL_S
            return
        self._discovery_last, self._discovery_due = now, None
        self._publish_discovery()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        delivery = self.acks.delivery(msg)
        taken = False
        try:
            taken = self._route(msg, delivery)
        except Exception:  # one bad message must never take the network thread down
            log.exception("message handling failed", extra={"topic": safe_str(msg.topic, 256)})
            self._error(ErrorCode.INTERNAL_ERROR, "the message could not be processed")
        finally:
            if not taken:
                self.acks.now(delivery)

    def _route(self, msg: mqtt.MQTTMessage, delivery: Delivery | None) -> bool:
        """Handle or queue one message; True when a queued request now owns its acknowledgement."""
        topic = msg.topic
        if self.stopping.is_set() and topic in (self.topics.command, hermes.NLU_QUERY):
            return True  # not acknowledged: the broker hands it to us again after the restart
        if topic in self.handlers:
            self.handlers[topic](msg.payload)
            return False
        if topic == homeassistant.STATUS_TOPIC:
            if msg.payload.strip().lower() == b"online":
                self._on_birth()
            return False
        if topic == self.topics.escalate_reply:
            self._escalation_reply(msg.payload)
            return False
        if topic not in (self.topics.command, hermes.NLU_QUERY):
            return False
        if msg.retain:
            # Retained: the broker replays it at every (re)start; "turn off the alarm" must not run each time.
            log.warning("retained command ignored", extra={"topic": topic})
            self._error(ErrorCode.RETAINED, "retained commands are never executed; publish commands without retain "
                                    "(and clear this one with an empty retained message)")
            return False
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        limits = self.config.limits
        if topic == hermes.NLU_QUERY:
            try:
                if len(msg.payload) > limits.max_payload_bytes:
                    raise CommandError(ErrorCode.PAYLOAD_TOO_LARGE, f"payload is {len(msg.payload)} bytes")
                query = hermes.NluQuery.from_dict(loads_untrusted(msg.payload.decode("utf-8")))
                if len(query.input) > limits.max_text_chars:
                    raise CommandError(ErrorCode.TEXT_TOO_LONG, f"text is {len(query.input)} characters", query.id)
            except CommandError as exc:
                self._error(exc.code, exc.message, exc.id)
                return False
            except (ValueError, AttributeError) as exc:
                self._error(ErrorCode.INVALID_HERMES, f"hermes/nlu/query payload rejected ({safe_str(exc, 200)})")
                return False
            ctx = hermes.Context(query.site_id, query.session_id, query.id, query.custom_data)
            return self.submit(Request(query.id or "", query.input, Source.HERMES, ctx=ctx,
                                       intent_filter=query.intent_filter, delivery=delivery,
                                       key=self._key("hermes", query.id, msg), redelivered=bool(msg.dup)))
        try:
            command = decode_command(msg.payload, limits.max_payload_bytes, limits.max_text_chars)
        except CommandError as exc:
            self._error(exc.code, exc.message, exc.id)
            return False
        if response_topic is not None:
            refusal = response_topic_refusal(response_topic, self.topics, self.config.mqtt.response_topics,
                                             self._own_topics)
            if refusal:
                log.warning("response topic refused", extra={"id": command.id,
                                                             "response_topic": safe_str(response_topic, 256)})
                self._error(ErrorCode.INVALID_FIELD, refusal, command.id)
                return False
        client_id = None if command.generated_id else command.id
        return self.submit(Request(command.id, command.text, Source.MQTT, response_topic=response_topic,
                                   correlation=correlation, delivery=delivery,
                                   key=self._key("mqtt", client_id, msg), redelivered=bool(msg.dup)))

    @staticmethod
    def _key(source: str, client_id: str | None, msg: mqtt.MQTTMessage) -> str:
        """Duplicate key: the client's id, else the payload's digest (checked only on redelivery)."""
        if client_id:
            return f"{source}:id:{client_id}"
        return f"{source}:payload:{hashlib.blake2b(msg.payload, digest_size=12).hexdigest()}"

    # --------------------------------------------------------------- intake
    def submit(self, request: Request) -> bool:
        """Queue a request; False when it was answered with an error instead (its delivery is then the caller's)."""
        # Buckets per channel, never per client-chosen field: a Hermes siteId is whatever the sender says.
        bucket = f"{request.source.value}:{self.config.site.id}"
        if not self.limiter.allow(bucket):
            self._error(ErrorCode.RATE_LIMITED, f"more than {self.config.limits.rate_per_second:g} commands/s on the "
                                        f"{request.source.value} channel", request.id or None, request.response_topic,
                        request.correlation)
            return False
        try:
            self.queue.put_nowait(request)
        except queue.Full:
            self._error(ErrorCode.OVERLOADED, "the command queue is full; try again",
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
                        self._handle_safely(rest)
            self._handle_safely(request)

    def _handle_safely(self, request: Request) -> None:
        """Every failure becomes an ``internal_error`` answer and a log line; the worker goes on."""
        try:
            self._handle(request)
        except Exception:
            log.exception("command failed", extra={"id": request.id, "source": request.source})
            self._error(ErrorCode.INTERNAL_ERROR, "the command could not be processed", request.id or None,
                        request.response_topic, request.correlation, delivery=request.delivery)

    def _is_duplicate(self, request: Request) -> bool:
        if request.key is None:
            return False
        by_id = ":id:" in request.key
        return (by_id or request.redelivered) and request.key in self.recent

    def _handle(self, request: Request) -> None:
        if self._is_duplicate(request):
            log.info("duplicate command not executed", extra={"id": request.id, "source": request.source})
            self._error(ErrorCode.DUPLICATE, "this command was already answered; it is not executed again",
                        request.id or None, request.response_topic, request.correlation, delivery=request.delivery)
            return
        try:
            parses = parse_all(self.home.parser(self.engine), request.text)
        except InputError as exc:
            self._error(exc.code, exc.message, request.id or None, request.response_topic, request.correlation,
                        delivery=request.delivery)
            return
        if request.intent_filter:
            parses = [p if not p.recognized or p.intent in request.intent_filter
                      else Parse(p.text, p.intent, p.confidence, False, (), self.engine.responder.render(None, {}))
                      for p in parses]
        self.handled += 1
        log.debug("parsed", extra={"id": request.id, "text": request.text, "intents": [p.intent for p in parses]})
        judged = [self._judge(p) for p in parses]
        if len(judged) == 1 and not judged[0][0].recognized and judged[0][2] is None and self.config.escalation.enabled:
            self._escalate(request, judged[0][0])
            return
        self._publish_parses(request, judged)

    def _judge(self, parse: Parse) -> tuple[Parse, Resolution | None, Reason | None]:
        return decide(parse, self.engine.responder, self.home.resolver, self.config.site.area or None,
                      self.config.model.action_threshold)

    def _publish_parse(self, request: Request, parse: Parse, model: ModelInfo | None = None) -> None:
        self._publish_parses(request, [(parse, None, None)], model)

    def _publish_parses(self, request: Request, judged: list[tuple[Parse, Resolution | None, Reason | None]],
                        model: ModelInfo | None = None) -> None:
        """One intent (or not_recognized) message per action, sharing the command's id with index and
        count; one response and one Hermes tts/say for the whole command."""
        latency = (time.perf_counter() - request.received) * 1000
        count = len(judged)
        ctx = request.ctx or hermes.Context(self.config.site.id, None, request.id)
        for index, (parse, resolution, reason) in enumerate(judged):
            if resolution is None and self.home.resolver is not None and parse.recognized:
                resolution = Resolution()  # a home is loaded: targets are always present, empty here
            message = IntentMessage.from_parse(parse, id=request.id, source=request.source, model=model or self.model,
                                               latency_ms=latency, resolution=resolution, index=index,
                                               count=count).to_dict()
            if parse.recognized:
                self._publish(self.topics.intent, message)
            else:
                self._publish(self.topics.not_recognized, NotRecognizedMessage.from_parse(
                    parse, request.id, self.engine.manifest.out_of_scope, reason, index, count).to_dict())
            if request.response_topic:
                self._publish(request.response_topic, message, correlation=request.correlation)
            if self.config.hermes.enabled:
                if parse.recognized:
                    self._publish(hermes.intent_topic(parse.intent), hermes.NluIntent.from_parse(parse, ctx).to_dict())
                else:
                    self._publish(hermes.NOT_RECOGNIZED, hermes.NotRecognized(parse.text, ctx).to_dict())
        first = judged[0][0]
        # Said as sentences, one per action: "Turned off the lights in the Kitchen. Turned on the Porch Light"
        response = ". ".join(p.response.rstrip(".") for p, _, _ in judged if p.response) if count > 1 \
            else first.response
        # PUBACKs come back in order: the last publish's acknowledgement covers every earlier one.
        last = self._publish(self.topics.response, ResponseMessage(
            request.id, response, first.intent if first.recognized else None).to_dict())
        if self.config.hermes.enabled:
            last = self._publish(hermes.TTS_SAY, hermes.TtsSay(response, ctx).to_dict())
        key = request.key
        if key is not None:
            self.recent.add(key)
        self.acks.after(last, request.delivery, answered=None if key is None else partial(self.recent.persist, key))
        log.info("answered", extra={"id": request.id, "source": str(request.source), "count": count,
                                    "intents": [p.intent for p, _, _ in judged],
                                    "recognized": [p.recognized for p, _, _ in judged], "latency_ms": round(latency, 2)})

    # ------------------------------------------- what voice may use (voice.service.Host)
    def intent_of(self, text: str) -> str | None:
        """Voice: the bundle intent the engine takes this text for (None: out of scope)."""
        return self.engine.intent_of(text)

    @property
    def bundle_path(self) -> Path:
        return self.engine.bundle.path

    def submit_utterance(self, id: str, text: str, received: float, ctx: hermes.Context) -> bool:
        return self.submit(Request(id, text, Source.VOICE, received=received, ctx=ctx))

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self._publish(topic, message)

    def on_topic(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Route ``topic`` to ``handler`` (subscribed at the next connect; call before ``start``)."""
        self.handlers[topic] = handler

    def _publish(self, topic: str, message: dict[str, Any], correlation: bytes | None = None) -> mqtt.MQTTMessageInfo:
        props = None
        if correlation is not None and self.config.mqtt.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        return self.client.publish(topic, encode(message), qos=QOS, properties=props)

    def _error(self, code: ErrorCode, message: str, id: str | None = None, response_topic: str | None = None,
               correlation: bytes | None = None, delivery: Delivery | None = None) -> None:
        """Answer on the error topic; never raises (this is the path every other failure takes)."""
        info = None
        try:
            body = ErrorMessage(code, message, id).to_dict()
            log.info("rejected", extra={"code": str(code), "id": body.get("id")})
            info = self._publish(self.topics.error, body)
            if response_topic:
                info = self._publish(response_topic, {"error": body}, correlation=correlation)
        except Exception:  # noqa: BLE001
            log.exception("error answer could not be published", extra={"code": code})
        self.acks.after(info, delivery)

    # ----------------------------------------------------------- escalation
    def _escalate(self, request: Request, parse: Parse) -> None:
        with self._pending_lock:
            self._pending[request.id] = _Pending(request, parse, time.monotonic() + self.config.escalation.timeout_s)
        if request.key is not None:
            self.recent.add(request.key)  # a redelivery while we wait must not be escalated again
        self._publish(self.topics.escalate, EscalationRequest(request.id, parse.text, self.config.site.id,
                                                              Guess(parse.intent, parse.confidence)).to_dict())

    def _escalation_reply(self, payload: bytes) -> None:
        """A reply to one of our escalations; every field checked before the pending request is touched."""
        try:
            reply = EscalationReply.from_dict(loads_untrusted(payload.decode("utf-8")),
                                              self.config.limits.max_text_chars)
        except (UntrustedJsonError, UnicodeDecodeError, ValueError) as exc:
            self._error(ErrorCode.INVALID_ESCALATION_REPLY, safe_str(exc, 300))
            return
        with self._pending_lock:
            pending = self._pending.pop(reply.id, None)
        if pending is None:
            return  # late or foreign reply: the request was already answered
        parse = Parse(pending.parse.text, reply.intent or pending.parse.intent,
                      reply.confidence if reply.intent else pending.parse.confidence, bool(reply.intent), (),
                      reply.response if reply.response is not None else pending.parse.response)
        self._publish_parse(pending.request, parse, model=ModelInfo(reply.model, ""))

    def _tick(self) -> None:
        while not self.stopping.wait(0.05):
            try:
                self._expire_escalations()
                self.home.poll()
                due = self._discovery_due
                if due is not None and time.monotonic() >= due and self.connected.is_set():
                    self._on_birth()
            except Exception:  # noqa: BLE001 - the timer outlives any one failure
                log.exception("timer task failed")

    def _expire_escalations(self) -> None:
        now = time.monotonic()
        with self._pending_lock:
            expired = [p for p in self._pending.values() if p.deadline <= now]
            for p in expired:
                self._pending.pop(p.request.id, None)
        for p in expired:
            self._publish_parse(p.request, p.parse)
