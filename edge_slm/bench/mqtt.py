"""``edge-slm bench --mqtt``: command to intent message through a loopback Mosquitto.

Measured side by side in one run: the broker round trip alone (publish and
receive on one client) and the whole path (command in, daemon, intent out).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt

from edge_slm.bench.load import LoadWatch, note, p50_p99, progress
from edge_slm.bench.runtime import COMMANDS
from edge_slm.engine.nlu import Engine
from edge_slm.service.broker import LocalBroker
from edge_slm.service.config import Config
from edge_slm.service.daemon import Daemon
from edge_slm.service.mqtt import make_client


class _Probe:
    def __init__(self, config: Config, topics: list[str]) -> None:
        self.client = make_client(config, "edge-slm-bench-probe", persistent=False)
        self.arrived: dict[str, float] = {}
        # Arrivals per key prefix ("tlate_ack" for "tlate_ack17"): counting the dict on every
        # message would cost the probe O(n) per arrival, and it shares the daemon's GIL.
        self.counts: Counter[str] = Counter()
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
            if key not in self.arrived:
                self.counts[str(key).rstrip("0123456789")] += 1
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


def run_mqtt_bench(bundle: str | None, count: int = 2000) -> dict[str, Any]:
    """Two daemons on one broker, one acknowledging commands after the answer and one on arrival,
    timed in alternation so that both see the same machine."""
    watch = LoadWatch().start()
    progress("starting a broker and two daemons")
    broker = LocalBroker().start()
    base = Config()
    base = dataclasses.replace(
        base, mqtt=dataclasses.replace(base.mqtt, port=broker.port),
        limits=dataclasses.replace(base.limits, rate_per_second=0.0, queue_size=max(4096, count)),
        homeassistant=dataclasses.replace(base.homeassistant, discovery=False),
        hermes=dataclasses.replace(base.hermes, enabled=False))
    engine = Engine.load(bundle, threads=2, cache_size=0)
    daemons, prefixes = {}, {}
    for mode, late in (("late_ack", True), ("early_ack", False)):
        config = dataclasses.replace(base, site=dataclasses.replace(base.site, id=f"bench-{mode.replace('_', '-')}"),
                                     mqtt=dataclasses.replace(base.mqtt, client_id=f"edge-slm-bench-{mode}"))
        daemons[mode] = Daemon(config, engine=engine, ack_after_answer=late)
        daemons[mode].start()
        daemons[mode].wait_connected(10)
        prefixes[mode] = f"{config.mqtt.topic_prefix}/{config.site.id}"
    probe = _Probe(base, [f"{p}/{leaf}" for p in prefixes.values() for leaf in ("intent", "not_recognized")]
                   + ["edge-slm-bench/echo"])
    sequential: dict[str, list[float]] = {mode: [] for mode in daemons}
    throughput: dict[str, float] = {}
    answered: dict[str, int] = {}
    try:
        progress("broker round trips, then commands (late and early ack interleaved)")
        echo = [probe.round_trip("edge-slm-bench/echo", f"e{i}", json.dumps({"id": f"e{i}"}).encode())
                for i in range(300)]
        for i in range(50):  # warm-up
            for mode, prefix in prefixes.items():
                probe.round_trip(f"{prefix}/command", f"w{mode}{i}",
                                 json.dumps({"id": f"w{mode}{i}", "text": COMMANDS[i % 20]}).encode())
        for i in range(min(count, 1000)):
            for mode, prefix in (prefixes.items() if i % 2 else reversed(prefixes.items())):
                key = f"s{mode}{i}"
                sequential[mode].append(probe.round_trip(
                    f"{prefix}/command", key, json.dumps({"id": key, "text": COMMANDS[i % len(COMMANDS)]}).encode()))
        for mode, prefix in prefixes.items():
            progress(f"throughput, {count} pipelined commands ({mode.replace('_', ' ')})")
            start = time.perf_counter()
            for i in range(count):
                probe.client.publish(f"{prefix}/command",
                                     json.dumps({"id": f"t{mode}{i}", "text": COMMANDS[i % len(COMMANDS)]}), qos=1)
            with probe.cond:
                probe.cond.wait_for(lambda: probe.counts[f"t{mode}"] >= count, timeout=120)
            elapsed = time.perf_counter() - start
            answered[mode] = probe.counts[f"t{mode}"]
            throughput[mode] = round(answered[mode] / elapsed, 1)
    finally:
        probe.close()
        for daemon in daemons.values():
            daemon.stop(drain_timeout=5)
        broker.stop()
    late, early = p50_p99(sequential["late_ack"]), p50_p99(sequential["early_ack"])
    return {
        "broker_round_trip": p50_p99(echo),
        "command_to_intent": late,
        "command_to_intent_early_ack": early,
        "late_ack_cost_p50_ms": round(late["p50_ms"] - early["p50_ms"], 3),
        "throughput_per_s": throughput["late_ack"],
        "throughput_early_ack_per_s": throughput["early_ack"],
        "answered": answered["late_ack"], "sent": count,
        "machine_load": watch.result(),
        "settings": {"qos": 1, "protocol": base.mqtt.protocol, "tcp_nodelay": True, "cache": "off",
                     "ack": "after the answer's PUBACK (early_ack: on arrival, for comparison)"},
    }


def mqtt_markdown(result: dict[str, Any]) -> str:
    return (
        "| path (loopback Mosquitto, QoS 1, MQTT 5, TCP_NODELAY) | p50 (ms) | p99 (ms) |\n|---|---|---|\n"
        f"| broker round trip alone | {result['broker_round_trip']['p50_ms']} | {result['broker_round_trip']['p99_ms']} |\n"
        f"| command -> intent message (daemon, cache off, ack after the answer) | "
        f"{result['command_to_intent']['p50_ms']} | {result['command_to_intent']['p99_ms']} |\n"
        f"| same, ack on arrival (before this release; interleaved in the same run) | "
        f"{result['command_to_intent_early_ack']['p50_ms']} | {result['command_to_intent_early_ack']['p99_ms']} |\n\n"
        f"- cost of the late acknowledgement at p50: {result['late_ack_cost_p50_ms']} ms\n"
        f"- throughput: {result['throughput_per_s']} commands/s with the late ack, "
        f"{result['throughput_early_ack_per_s']} with the ack on arrival ({result['answered']} of {result['sent']} "
        f"answered, pipelined, one publisher)\n" + note(result.get("machine_load", {}))
    )
