"""The daemon: wiring and lifecycle. MQTT (and voice) in, understanding on one worker, answers out.

- ``transport``: the broker connection, publishing, late acknowledgement, discovery;
- ``intake``: broker messages to requests on a bounded queue (refused input answered on ``error``);
- ``understand``: text to decisions, the same path as Wyoming, ``parse`` and ``listen``;
- ``outbox``: decisions to the messages of our topics and Hermes;
- ``escalation``: what the model does not understand, offered to a larger model on the bus.

This module holds the threads (network, worker, timer), signals, the systemd watchdog and the
health of every component: a component that dies stops the service with exit status 1.
A QoS 1 command is acknowledged only after its answer reached the broker, and a command id already
answered is answered ``duplicate``: at least once, never twice.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Protocol

import paho.mqtt.client as mqtt

from edge_slm.engine.bundle import Bundle
from edge_slm.engine.nlu import Engine, Parse
from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.service import hermes, sdnotify
from edge_slm.service.acks import Delivery
from edge_slm.service.config import Config
from edge_slm.service.decide import Decision
from edge_slm.service.escalation import Escalations
from edge_slm.service.intake import Intake, Request
from edge_slm.service.messages import ModelInfo, Source
from edge_slm.service.mqtt import Topics
from edge_slm.service.outbox import Outbox, Outgoing
from edge_slm.service.recent import RecentIds
from edge_slm.service.transport import Transport
from edge_slm.service.understand import Understander
from edge_slm.service.wire import safe_str
from edge_slm.service.worker import Worker

log = logging.getLogger("edge_slm.service.daemon")


class Component(Protocol):
    """A part that runs beside the daemon (the Wyoming service, voice): its failure stops the service."""

    name: str

    def failure(self) -> str | None: ...

    def stop(self) -> None: ...


class Daemon:
    def __init__(self, config: Config, engine: Engine | None = None, ack_after_answer: bool = True,
                 bundle: Bundle | None = None) -> None:
        """``engine``: one already loaded (benches, tests); ``bundle``: one already opened (``run``
        loads Whisper before the engine); ``ack_after_answer=False`` acknowledges on arrival (the old
        way; kept for the benchmark's comparison)."""
        self.config = config
        self.understander = Understander.from_config(config, bundle=bundle, engine=engine)
        self.engine = self.understander.engine
        self.home = self.understander.home
        manifest = self.engine.manifest
        self.model = ModelInfo(manifest.name, manifest.version)
        self.topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self.recent = RecentIds(config.limits.duplicate_window_s, state_dir=config.service.state_path() or None)
        self.escalations = Escalations(config.site.id, config.escalation.timeout_s, config.limits.max_text_chars)
        self.outbox = Outbox(self.topics, config.site.id, self.model, manifest.out_of_scope, config.hermes.enabled)
        self.transport = Transport(config, self.topics, self.model,
                                   tuple(i for i in manifest.intents if i != manifest.out_of_scope),
                                   self._on_message, ack_after_answer)
        self.intake = Intake(config, self.topics)
        self.connected = self.transport.connected
        self.stopping = self.transport.stopping
        self.handled = 0
        self.exit_code = 0
        self.components: list[Component] = []
        # Extra topics other parts (voice) answer: topic -> handler(payload).
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self._worker: Worker[Request] = Worker(self.intake.queue, lambda request: self._handle_safely(request))
        self._timer = threading.Thread(target=self._tick, name="edge-slm-timer", daemon=True)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        log.info("starting", extra={"site": self.config.site.id, "broker": self.transport.broker,
                                    "protocol": self.config.mqtt.protocol, "model": self.model.name,
                                    "model_version": self.model.version})
        self.transport.subscriptions = self.intake.subscriptions(sorted(self.handlers))
        self._worker.start()
        self._timer.start()
        self.transport.start()

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
            dead = [t.name for t in (self._worker.thread, self._timer) if not t.is_alive()]
            dead += [f"{c.name}: {reason}" for c in self.components if (reason := c.failure()) is not None]
            if dead:
                # Say so instead of sitting "online" with nobody answering: offline, no watchdog, exit 1.
                log.critical("a component stopped; exiting so that the service is restarted",
                             extra={"threads": dead})
                self.exit_code = 1
                break
            now = time.monotonic()
            # Only a worker that still turns over keeps the watchdog fed.
            if interval and now - last_ping >= interval and now - self._worker.heartbeat < 2 * interval + 1:
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
        for component in self.components:
            component.stop()
        self._worker.stop(drain_timeout)
        self.transport.stop()
        self.understander.close()
        self.recent.close()
        log.info("stopped", extra={"handled": self.handled})

    # ---------------------------------------------------------------- intake
    def _on_message(self, msg: mqtt.MQTTMessage, delivery: Delivery | None) -> None:
        """Network thread: handle or queue one message; never raises."""
        taken = False
        try:
            taken = self._route(msg, delivery)
        except RefusedInput as exc:
            self._error(exc.code, exc.message, exc.id)
        except Exception:  # one bad message must never take the network thread down
            log.exception("message handling failed", extra={"topic": safe_str(msg.topic, 256)})
            self._error(ErrorCode.INTERNAL_ERROR, "the message could not be processed")
        finally:
            if not taken:
                self.transport.ack_now(delivery)

    def _route(self, msg: mqtt.MQTTMessage, delivery: Delivery | None) -> bool:
        """True when a queued request now owns the message's acknowledgement."""
        topic = msg.topic
        if self.stopping.is_set() and topic in (self.topics.command, hermes.NLU_QUERY):
            return True  # not acknowledged: the broker hands it to us again after the restart
        if topic in self.handlers:
            self.handlers[topic](msg.payload)
        elif topic == self.topics.escalate_reply:
            answered = self.escalations.reply(msg.payload)
            if answered is not None:
                request, parse, model = answered
                self._answer(request, [Decision(parse)], model)
        elif topic in (self.topics.command, hermes.NLU_QUERY):
            if msg.retain:
                # Retained: the broker replays it at every (re)start; "turn off the alarm" must not run each time.
                log.warning("retained command ignored", extra={"topic": topic})
                raise RefusedInput(ErrorCode.RETAINED, "retained commands are never executed; publish commands "
                                                       "without retain (and clear this one with an empty retained "
                                                       "message)")
            return self.submit(self.intake.request(msg, delivery))
        return False

    def submit(self, request: Request) -> bool:
        """Queue a request; False when it was answered with an error instead (rate limited, overloaded)."""
        try:
            self.intake.submit(request)
        except RefusedInput as exc:
            self._error(exc.code, exc.message, exc.id, request.response_topic, request.correlation)
            return False
        return True

    # ---------------------------------------------------------------- worker
    def _handle_safely(self, request: Request) -> None:
        """Every failure becomes an ``internal_error`` answer and a log line; the worker goes on."""
        try:
            self._handle(request)
        except Exception:
            log.exception("command failed", extra={"id": request.id, "source": request.source})
            self._error(ErrorCode.INTERNAL_ERROR, "the command could not be processed", request.id or None,
                        request.response_topic, request.correlation, delivery=request.delivery)

    def _handle(self, request: Request) -> None:
        if request.is_duplicate(self.recent):
            log.info("duplicate command not executed", extra={"id": request.id, "source": request.source})
            self._error(ErrorCode.DUPLICATE, "this command was already answered; it is not executed again",
                        request.id or None, request.response_topic, request.correlation, delivery=request.delivery)
            return
        try:
            decisions = self.understander.submit(request.text, request.area, request.intent_filter).result()
        except RefusedInput as exc:
            self._error(exc.code, exc.message, request.id or None, request.response_topic, request.correlation,
                        delivery=request.delivery)
            return
        self.handled += 1
        log.debug("parsed", extra={"id": request.id, "text": request.text,
                                   "intents": [d.parse.intent for d in decisions]})
        if len(decisions) == 1 and not decisions[0].recognized and decisions[0].reason is None \
                and self.config.escalation.enabled:
            self._escalate(request, decisions[0].parse)
            return
        self._answer(request, decisions)

    def _answer(self, request: Request, decisions: list[Decision], model: ModelInfo | None = None) -> None:
        messages = self.outbox.answer(request, decisions, self.home.resolver is not None, model)
        key = request.key
        if key is not None:
            self.recent.add(key)
        self.transport.publish(messages, request.delivery,
                               answered=None if key is None else partial(self.recent.persist, key))
        log.info("answered", extra={"id": request.id, "source": str(request.source), "count": len(decisions),
                                    "intents": [d.parse.intent for d in decisions],
                                    "recognized": [d.recognized for d in decisions],
                                    "latency_ms": round((time.perf_counter() - request.received) * 1000, 2)})

    def _error(self, code: ErrorCode, message: str, id: str | None = None, response_topic: str | None = None,
               correlation: bytes | None = None, delivery: Delivery | None = None) -> None:
        """Answer on the error topic; never raises (this is the path every other failure takes)."""
        try:
            messages = self.outbox.error(code, message, id, response_topic, correlation)
            log.info("rejected", extra={"code": str(code), "id": messages[0].payload.get("id")})
            self.transport.publish(messages, delivery)
        except Exception:  # noqa: BLE001
            log.exception("error answer could not be published", extra={"code": code})
            self.transport.ack_now(delivery)

    # ------------------------------------------------------------ escalation
    def _escalate(self, request: Request, parse: Parse) -> None:
        message = self.escalations.add(request, parse)
        if request.key is not None:
            self.recent.add(request.key)  # a redelivery while we wait must not be escalated again
        self.transport.publish([Outgoing(self.topics.escalate, message.to_dict())])

    def _tick(self) -> None:
        while not self.stopping.wait(0.05):
            try:
                for pending in self.escalations.expired():
                    self._answer(pending.request, [Decision(pending.parse)])
                self.home.poll()
                self.transport.tick()
            except Exception:  # noqa: BLE001 - the timer outlives any one failure
                log.exception("timer task failed")

    # ------------------------------------------- what voice may use (voice.service.Host)
    def intent_of(self, text: str) -> str | None:
        """Voice: the bundle intent the engine takes this text for (None: out of scope)."""
        return self.understander.intent_of(text)

    @property
    def bundle_path(self) -> Path:
        return self.engine.bundle.path

    def submit_utterance(self, id: str, text: str, received: float, ctx: hermes.Context) -> bool:
        return self.submit(Request(id, text, Source.VOICE, received=received, ctx=ctx))

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.transport.publish([Outgoing(topic, message)])

    def on_topic(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Route ``topic`` to ``handler`` (subscribed at the next connect; call before ``start``)."""
        self.handlers[topic] = handler

