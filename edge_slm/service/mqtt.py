"""MQTT: our topics, a hardened paho client, and the rule for clients' response topics.

What arrives on the topics is decoded in ``protocol``."""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_slm.service.config import Config

log = logging.getLogger("edge_slm.service.mqtt")
QOS = 1


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str

    def _t(self, leaf: str) -> str:
        return f"{self.prefix}/{self.site}/{leaf}"

    @property
    def command(self) -> str:
        return self._t("command")

    @property
    def intent(self) -> str:
        return self._t("intent")

    @property
    def response(self) -> str:
        return self._t("response")

    @property
    def not_recognized(self) -> str:
        return self._t("not_recognized")

    @property
    def error(self) -> str:
        return self._t("error")

    @property
    def status(self) -> str:
        return self._t("status")

    @property
    def escalate(self) -> str:
        return self._t("escalate")

    @property
    def escalate_reply(self) -> str:
        return self._t("escalate/reply")


def _nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # Nagle + delayed ACK add ~40 ms to every small command round trip.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def make_client(config: Config, client_id: str, will_topic: str | None = None,
                will_payload: bytes | None = None, persistent: bool = True) -> mqtt.Client:
    v5 = config.mqtt.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else not persistent)
    client.on_socket_open = _nodelay
    client.max_queued_messages_set(0)  # unlimited: nothing is dropped while the broker is away
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    if config.mqtt.username:
        client.username_pw_set(config.mqtt.username, config.password() or None)
    if config.mqtt.tls_ca:
        context = ssl.create_default_context(cafile=config.mqtt.tls_ca)
        if config.mqtt.tls_cert:
            context.load_cert_chain(config.mqtt.tls_cert, config.mqtt.tls_key or None)
        client.tls_set_context(context)
    if will_topic is not None:
        client.will_set(will_topic, will_payload, qos=QOS, retain=True)
    return client


def connect_properties(config: Config, persistent: bool = True) -> Properties | None:
    if config.mqtt.protocol != "5":
        return None
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = config.mqtt.session_expiry
    # The broker drops anything larger instead of sending it: a 50 MB payload never reaches our memory.
    props.MaximumPacketSize = max_packet_size(config)
    return props


def max_packet_size(config: Config) -> int:
    """Payload limit plus room for the fixed header, a topic and MQTT 5 properties (response topic etc.)."""
    return config.limits.max_payload_bytes + 4096


def connect(client: mqtt.Client, config: Config, persistent: bool = True) -> None:
    kwargs: dict[str, Any] = {"keepalive": config.mqtt.keepalive}
    if config.mqtt.protocol == "5":
        kwargs["clean_start"] = not persistent
        kwargs["properties"] = connect_properties(config, persistent)
    client.connect_async(config.mqtt.host, config.mqtt.port, **kwargs)


def reason_text(reason_code: Any) -> str:
    return str(getattr(reason_code, "getName", lambda: reason_code)())


MAX_RESPONSE_TOPIC_CHARS = 256


def response_topic_refusal(topic: str, topics: Topics, allowed: list[str], own: set[str]) -> str | None:
    """Why a client's MQTT 5 response topic is refused, or None when the daemon may answer there.

    The daemon publishes with its own broker rights, so a client must not be able to steer
    answers onto another site's commands or a device's set topic: only the operator's prefixes
    (default: our site's own subtree), never a wildcard, never a topic the daemon reads or writes.
    """
    if len(topic) > MAX_RESPONSE_TOPIC_CHARS:
        return f"response topic is longer than {MAX_RESPONSE_TOPIC_CHARS} characters"
    if any(ch in topic for ch in "+#\0") or topic.startswith("$"):
        return "response topic holds a wildcard or starts with '$'"
    if topic in own:
        return "response topic is one of the daemon's own topics"
    prefixes = allowed or [f"{topics.prefix}/{topics.site}/"]
    if not any(topic.startswith(prefix) for prefix in prefixes):
        return f"response topic must start with {' or '.join(prefixes)} ([mqtt] response_topics)"
    return None
