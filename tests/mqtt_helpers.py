"""Test-side MQTT: a real paho client that collects what the daemon publishes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Collector:
    def __init__(self, port: int, topics: list[str], client_id: str = "", protocol: str = "5",
                 persistent: bool = False, **tls: Any) -> None:
        v5 = protocol == "5"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                  clean_session=None if v5 else not persistent)
        self.messages: list[tuple[str, bytes, Any]] = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        kwargs: dict[str, Any] = {}
        if v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            if persistent:
                props.SessionExpiryInterval = 600
            kwargs = {"clean_start": not persistent, "properties": props}
        self.client.connect("127.0.0.1", port, **kwargs)
        self.client.loop_start()
        assert self.subscribed.wait(5), "collector could not subscribe"

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload, getattr(msg, "properties", None)))
            self.cond.notify_all()

    def json(self, topic: str) -> list[dict[str, Any]]:
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate: Callable[[list[tuple[str, bytes, Any]]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def count(self, topic: str) -> int:
        with self.cond:
            return sum(1 for t, _, _ in self.messages if t == topic)

    def publish(self, topic: str, payload: bytes | str, **kwargs: Any) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1, **kwargs)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
