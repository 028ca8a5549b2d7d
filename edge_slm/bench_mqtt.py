"""``edge-slm bench --mqtt``: command to intent message through a loopback Mosquitto.

Measured side by side in one run: the broker round trip alone (publish and
receive on one client) and the whole path (command in, daemon, intent out).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from .bench import COMMANDS
from .broker import LocalBroker
from .config import Config
from .daemon import Daemon
from .mqtt import make_client
from .nlu import Engine


class _Probe:
    def __init__(self, config: Config, topics: list[str]) -> None:
        self.client = make_client(config, "edge-slm-bench-probe", persistent=False)
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.on_message = self._on_message
        self.client.connect(config.mqtt.host, config.mqtt.port)
        self.client.loop_start()
        subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        try:
            key = json.loads(msg.payload)["id"]
        except (ValueError, KeyError, TypeError):
            return
        with self.cond:
            self.arrived[key] = now
            self.cond.notify_all()

    def round_trip(self, topic: str, key: str, payload: bytes, timeout: float = 5.0) -> float:
        start = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        with self.cond:
            self.cond.wait_for(lambda: key in self.arrived, timeout)
        return self.arrived.get(key, start + timeout) - start

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _stats(samples: list[float]) -> dict[str, float]:
    data = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(data, 50)), 3), "p99_ms": round(float(np.percentile(data, 99)), 3)}


def run_mqtt_bench(bundle: str | None, count: int = 2000) -> dict[str, Any]:
    broker = LocalBroker().start()
    config = Config()
    config = dataclasses.replace(
        config, mqtt=dataclasses.replace(config.mqtt, port=broker.port, client_id="edge-slm-bench"),
        limits=dataclasses.replace(config.limits, rate_per_second=0.0, queue_size=max(4096, count)),
        homeassistant=dataclasses.replace(config.homeassistant, discovery=False))
    engine = Engine.load(bundle, threads=2, cache_size=0)
    daemon = Daemon(config, engine=engine)
    daemon.start()
    daemon.wait_connected(10)
    prefix = f"{config.mqtt.topic_prefix}/{config.site.id}"
    probe = _Probe(config, [f"{prefix}/intent", f"{prefix}/not_recognized", "edge-slm-bench/echo"])
    try:
        echo = [probe.round_trip("edge-slm-bench/echo", f"e{i}", json.dumps({"id": f"e{i}"}).encode())
                for i in range(300)]
        for i in range(50):  # warm-up
            probe.round_trip(f"{prefix}/command", f"w{i}", json.dumps({"id": f"w{i}", "text": COMMANDS[i % 20]}).encode())
        sequential = [probe.round_trip(f"{prefix}/command", f"s{i}",
                                       json.dumps({"id": f"s{i}", "text": COMMANDS[i % len(COMMANDS)]}).encode())
                      for i in range(min(count, 1000))]
        start = time.perf_counter()
        for i in range(count):
            probe.client.publish(f"{prefix}/command", json.dumps({"id": f"t{i}", "text": COMMANDS[i % len(COMMANDS)]}), qos=1)
        with probe.cond:
            probe.cond.wait_for(lambda: all(f"t{i}" in probe.arrived for i in (0, count - 1)) and
                                sum(1 for k in probe.arrived if k.startswith("t")) >= count, timeout=120)
        elapsed = time.perf_counter() - start
        answered = sum(1 for k in probe.arrived if k.startswith("t"))
    finally:
        probe.close()
        daemon.stop(drain_timeout=5)
        broker.stop()
    return {
        "broker_round_trip": _stats(echo),
        "command_to_intent": _stats(sequential),
        "throughput_per_s": round(answered / elapsed, 1),
        "answered": answered, "sent": count,
        "settings": {"qos": 1, "protocol": config.mqtt.protocol, "tcp_nodelay": True, "cache": "off"},
    }


def mqtt_markdown(result: dict[str, Any]) -> str:
    return (
        "| path (loopback Mosquitto, QoS 1, MQTT 5, TCP_NODELAY) | p50 (ms) | p99 (ms) |\n|---|---|---|\n"
        f"| broker round trip alone | {result['broker_round_trip']['p50_ms']} | {result['broker_round_trip']['p99_ms']} |\n"
        f"| command -> intent message (daemon, cache off) | {result['command_to_intent']['p50_ms']} | "
        f"{result['command_to_intent']['p99_ms']} |\n\n"
        f"- throughput: {result['throughput_per_s']} commands/s ({result['answered']} of {result['sent']} answered, "
        f"pipelined, one publisher)\n"
    )
