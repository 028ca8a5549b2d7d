"""Transport and delivery: the daemon's MQTT connection.

Connects (and reconnects) to the broker, subscribes, keeps the retained status and Home Assistant's
discovery up to date, publishes ``Outgoing`` messages, and hands each received message to the
daemon with its ``Delivery`` (acknowledged by ``Acks`` only after its answer reached the broker).
Two daemons with one client id throw each other off forever: that is recognised and said.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from typing import Any, Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_slm.service import homeassistant
from edge_slm.service.acks import Acks, Delivery
from edge_slm.service.config import Config
from edge_slm.service.messages import ModelInfo, State, StatusMessage
from edge_slm.service.mqtt import QOS, Topics, connect, make_client, reason_text
from edge_slm.service.outbox import Outgoing
from edge_slm.service.wire import encode

log = logging.getLogger("edge_slm.service.transport")
DISCOVERY_MIN_INTERVAL_S = 10.0
TAKEOVER = "Session taken over"


class Transport:
    def __init__(self, config: Config, topics: Topics, model: ModelInfo, intents: tuple[str, ...],
                 on_message: Callable[[mqtt.MQTTMessage, Delivery | None], None], ack_after_answer: bool = True) -> None:
        """``intents``: the bundle's intents for discovery; ``on_message`` runs on the network thread."""
        self.config, self.topics, self.model, self.intents = config, topics, model, intents
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.subscriptions: list[str] = []  # set before start
        self.client_id = config.mqtt.client_id or f"edge-slm-{config.site.id}-{socket.gethostname()}"[:64]
        self.client = make_client(config, self.client_id, topics.status, self._status(State.OFFLINE))
        self.client.manual_ack_set(ack_after_answer)
        self.acks = Acks(self.client)
        self._handler = on_message
        self._discovery_last = -math.inf
        self._discovery_due: float | None = None
        self._connected_at = 0.0
        self._quick_drops: list[float] = []
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = lambda client, userdata, mid, *rest: self.acks.on_publish(mid)

    @property
    def broker(self) -> str:
        return f"{self.config.mqtt.host}:{self.config.mqtt.port}"

    def _status(self, state: State, model: ModelInfo | None = None) -> bytes:
        return encode(StatusMessage(state, self.config.site.id, model).to_dict())

    def start(self) -> None:
        log.info("connecting to the broker", extra={"broker": self.broker, "client_id": self.client_id,
                                                    "tls": bool(self.config.mqtt.tls_ca)})
        connect(self.client, self.config)
        self.client.loop_start()

    def stop(self) -> None:
        """Wait for the acknowledgements of what was answered, say offline, disconnect."""
        self.stopping.set()
        deadline = time.monotonic() + 3
        while self.acks.pending() and self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        info = self.client.publish(self.topics.status, self._status(State.OFFLINE), qos=QOS, retain=True)
        try:
            info.wait_for_publish(timeout=3)
        except (RuntimeError, ValueError):
            pass
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------ publishing
    def publish(self, messages: Iterable[Outgoing], delivery: Delivery | None = None,
                answered: Callable[[], None] | None = None) -> None:
        """Publish in order, then acknowledge ``delivery`` once the broker has the last one (PUBACKs
        come back in order: the last one covers every earlier one) and call ``answered``."""
        last = None
        for message in messages:
            props = None
            if message.correlation is not None and self.config.mqtt.protocol == "5":
                props = Properties(PacketTypes.PUBLISH)
                props.CorrelationData = message.correlation
            last = self.client.publish(message.topic, encode(message.payload), qos=QOS, properties=props)
        self.acks.after(last, delivery, answered=answered)

    def ack_now(self, delivery: Delivery | None) -> None:
        self.acks.now(delivery)

    # ------------------------------------------------------------- callbacks
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection", extra={"reason": reason_text(reason_code),
                                                              "broker": self.broker,
                                                              "username": self.config.mqtt.username or None})
            return
        self.acks.connected()
        self._connected_at = time.monotonic()
        client.subscribe([(t, QOS) for t in self.subscriptions])
        client.publish(self.topics.status, self._status(State.ONLINE, self.model), qos=QOS, retain=True)
        self._publish_discovery()
        self.connected.set()
        log.info("connected", extra={"broker": self.broker, "session_present": getattr(flags, "session_present", None)})

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("broker unreachable; retrying", extra={"broker": self.broker, "reason": self._probe()})

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
            log.error("client id collision: another client connected with this client id and took the session; "
                      "give each daemon its own [mqtt] client_id",
                      extra={"client_id": self.client_id, "broker": self.broker, "reason": reason})
            self._quick_drops.clear()
            return
        log.warning("disconnected; reconnecting", extra={"reason": reason, "broker": self.broker})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        delivery = self.acks.delivery(msg)
        if msg.topic != homeassistant.STATUS_TOPIC:
            self._handler(msg, delivery)  # the daemon's: never raises, acknowledges when answered
            return
        try:
            if msg.payload.strip().lower() == b"online":
                self.home_assistant_online()
        except Exception:  # noqa: BLE001 - a failed discovery round must not take the network thread down
            log.exception("discovery failed")
        finally:
            self.acks.now(delivery)

    # ------------------------------------------------------------- discovery
    def _publish_discovery(self) -> None:
        if not self.config.homeassistant.discovery:
            return
        for topic, payload in homeassistant.discovery_messages(
                self.topics, self.config.homeassistant.discovery_prefix, self.model.name, self.intents):
            self.client.publish(topic, encode(payload), qos=QOS, retain=True)

    def home_assistant_online(self) -> None:
        """Home Assistant came online: re-publish discovery, at most once per interval.

        Anyone may publish "online" there; a flood of 2,000 costs one round now and one later.
        """
        now = time.monotonic()
        if now - self._discovery_last < DISCOVERY_MIN_INTERVAL_S:
            self._discovery_due = self._discovery_last + DISCOVERY_MIN_INTERVAL_S
            return
        self._discovery_last, self._discovery_due = now, None
        self._publish_discovery()

    def tick(self) -> None:
        """From the daemon's timer: a discovery round that was held back is now due."""
        due = self._discovery_due
        if due is not None and time.monotonic() >= due and self.connected.is_set():
            self.home_assistant_online()
