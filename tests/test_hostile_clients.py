"""A hostile or unlucky device on the LAN, against the daemon and a real Mosquitto.

Every case asserts the answer the sender gets and that the next good command is still answered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import make_config
from mqtt_helpers import Collector
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PREFIX = "edge-slm/default"
GOOD = "turn off the porch light"


def still_answers(watch: Collector, marker: str) -> None:
    """The next good command is answered: the daemon is alive and not stuck."""
    watch.publish(f"{PREFIX}/command", json.dumps({"text": GOOD, "id": marker}))
    assert watch.wait_for(lambda m: any(t == f"{PREFIX}/response" and json.loads(p)["id"] == marker
                                        for t, p, _ in m), timeout=10), "the next good command was not answered"


def errors(watch: Collector) -> list[dict]:
    return watch.json(f"{PREFIX}/error")


def test_lone_surrogate_ids_are_answered_and_the_worker_lives(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#", "hermes/#"])
    watch.publish(f"{PREFIX}/command", b'{"text": "turn on the kitchen lights", "id": "\\ud800"}')
    watch.publish("hermes/nlu/query", b'{"input": "turn on the kitchen lights", "id": "\\udfff", '
                                      b'"siteId": "\\ud800x", "sessionId": "\\ud834", "customData": "\\udc00"}')
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/intent") >= 2 and watch.count("hermes/tts/say") >= 2,
                          timeout=10)
    assert {i["id"] for i in watch.json(f"{PREFIX}/intent")} == {"\ufffd"}
    hermes_intent = next(json.loads(p) for t, p, _ in watch.messages
                         if t.startswith("hermes/intent/") and json.loads(p)["sessionId"] is not None)
    assert (hermes_intent["id"], hermes_intent["siteId"], hermes_intent["customData"]) == ("\ufffd", "\ufffdx", "\ufffd")
    assert not errors(watch)
    still_answers(watch, "after-surrogate")
    watch.close()


@pytest.mark.parametrize("topic", [f"{PREFIX}/command", "hermes/nlu/query"])
def test_deeply_nested_json_is_refused_not_a_crash(broker, start_daemon, topic: str) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    watch.publish(topic, "[" * 990 + "]" * 990)
    watch.publish(topic, '{"text": "hi", "input": "hi", "x": ' + "{\"a\": " * 5000 + "1" + "}" * 5000 + "}")
    assert watch.wait_for(lambda m: len(errors(watch)) >= 2)
    assert {e["code"] for e in errors(watch)} <= {"invalid_json", "invalid_hermes"}
    assert all("nested" in e["message"] for e in errors(watch))
    still_answers(watch, "after-deep")
    watch.close()


@pytest.mark.parametrize("response_topic", [
    "homeassistant/light/kitchen/set",  # a device's set topic, with the daemon's broker rights
    "edge-slm/B/command",  # another site's commands
    f"{PREFIX}/command",  # our own command topic: a loop
    f"{PREFIX}/#",  # a wildcard cannot be published to
    f"{PREFIX}/x/+/y",
    "$SYS/broker/x",
])
def test_response_topics_outside_the_allowed_prefixes_are_refused(broker, start_daemon, response_topic: str) -> None:
    start_daemon(make_config(broker.port))
    spy = Collector(broker.port, ["#"])
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = response_topic
    spy.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the kitchen lights", "id": "rt"}), properties=props)
    assert spy.wait_for(lambda m: any(t == f"{PREFIX}/error" for t, _, _ in m))
    refusal = errors(spy)[0]
    assert refusal["code"] == "invalid_field" and refusal["id"] == "rt" and "response topic" in refusal["message"]
    still_answers(spy, "after-rt")
    time.sleep(0.2)
    topics = [t for t, _, _ in spy.messages]
    assert f"{PREFIX}/intent" in topics and not any(
        json.loads(p).get("id") == "rt" for t, p, _ in spy.messages if t == f"{PREFIX}/intent")
    assert not any(t.startswith(("homeassistant/light", "edge-slm/B/")) for t in topics)
    spy.close()


def test_retained_commands_never_run(broker, start_daemon) -> None:
    setter = Collector(broker.port, ["unused"])
    setter.publish(f"{PREFIX}/command", "turn off the alarm", retain=True).wait_for_publish(5)
    setter.publish("hermes/nlu/query", json.dumps({"input": "turn off the alarm"}), retain=True).wait_for_publish(5)
    setter.close()
    watch = Collector(broker.port, [f"{PREFIX}/error", f"{PREFIX}/intent", f"{PREFIX}/response"])
    for round_ in range(2):  # and again after a restart of the daemon
        daemon = start_daemon(make_config(broker.port, mqtt={"client_id": "retained"}))
        assert watch.wait_for(lambda m: sum(json.loads(p).get("code") == "retained" for t, p, _ in m
                                            if t.endswith("/error")) >= 2 * (round_ + 1))
        daemon.stop(drain_timeout=2)
    assert watch.count(f"{PREFIX}/intent") == 0
    watch.close()


def test_rate_limit_is_not_keyed_on_a_client_chosen_site_id(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port, limits={"rate_per_second": 1.0, "burst": 5}))
    watch = Collector(broker.port, [f"{PREFIX}/error", f"{PREFIX}/response"])
    for i in range(200):
        watch.publish("hermes/nlu/query", json.dumps({"input": "pause the music", "siteId": f"site-{i}", "id": f"h{i}"}))
    assert watch.wait_for(lambda m: len(m) >= 200, timeout=20)
    limited = [e for e in errors(watch) if e["code"] == "rate_limited"]
    assert len(limited) >= 190  # one bucket for the Hermes channel, whatever siteIds say
    # The Hermes flood (siteId "default" included) does not starve our own command topic.
    still_answers(watch, "native-after-flood")
    watch.close()


def test_a_repeated_command_id_is_answered_duplicate_not_executed(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    for _ in range(3):
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "toggle the hallway light", "id": "once"}))
    assert watch.wait_for(lambda m: len([e for e in errors(watch) if e["code"] == "duplicate"]) == 2)
    assert len(watch.json(f"{PREFIX}/response")) == 1
    # Without an id, the same text twice is two commands (a person may say it twice).
    watch.publish(f"{PREFIX}/command", "pause the music")
    watch.publish(f"{PREFIX}/command", "pause the music")
    assert watch.wait_for(lambda m: len(watch.json(f"{PREFIX}/response")) == 3)
    watch.close()


def test_failures_inside_handling_and_inside_the_error_path_become_answers(broker, start_daemon, caplog) -> None:
    daemon = start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    real_publish = daemon.transport.client.publish
    failures = {"error": 1}

    def broken_parse(text: str):
        raise RuntimeError("model blew up")

    def flaky_publish(topic, *args, **kwargs):
        if topic.endswith("/error") and failures["error"] > 0:
            failures["error"] -= 1
            raise OSError("socket gone")
        return real_publish(topic, *args, **kwargs)

    caplog.set_level(logging.ERROR, logger="edge_slm.service")
    daemon.engine.parse = broken_parse
    daemon.transport.client.publish = flaky_publish
    try:
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the fan", "id": "boom-1"}))  # error path fails
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the fan", "id": "boom-2"}))
        assert watch.wait_for(lambda m: any(e.get("id") == "boom-2" for e in errors(watch)))
    finally:
        del daemon.engine.parse
        daemon.transport.client.publish = real_publish
    assert [e["code"] for e in errors(watch)] == ["internal_error"]
    assert any(r.getMessage() == "command failed" for r in caplog.records)
    assert any(r.getMessage() == "error answer could not be published" for r in caplog.records)
    still_answers(watch, "after-boom")
    watch.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_takes_the_service_offline_with_exit_status_1(broker, engine) -> None:
    from edge_slm.service.daemon import Daemon

    daemon = Daemon(make_config(broker.port, mqtt={"client_id": "dies"}), engine=engine)
    daemon.start()
    assert daemon.wait_connected(10)
    watch = Collector(broker.port, [f"{PREFIX}/status"])

    def fatal(request):  # not an Exception: nothing in the worker may catch it
        raise SystemExit("simulated fatal error")

    daemon._handle_safely = fatal
    watch.publish(f"{PREFIX}/command", "turn on the fan")
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run_forever()))
    runner.start()
    runner.join(15)
    assert result == [1]
    assert watch.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", timeout=5)
    watch.close()


def test_escalation_replies_are_checked_field_by_field(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port, escalation={"enabled": True, "timeout_s": 1.5}))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "tell me a joke about cats", "id": "e-1"}))
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/escalate") == 1)
    for bad in [{"id": "e-1", "intent": {"name": "TellJoke", "confidence": "high"}},
                {"id": "e-1", "intent": {"name": "TellJoke", "confidence": float("nan")}},
                {"id": "e-1", "intent": {"name": "x" * 500}},
                {"id": "e-1", "intent": {"name": "TellJoke"}, "response": ["not", "text"]},
                {"id": "e-1", "intent": "TellJoke"}]:
        watch.publish(f"{PREFIX}/escalate/reply", json.dumps(bad))
    assert watch.wait_for(lambda m: len([e for e in errors(watch) if e["code"] == "invalid_escalation_reply"]) == 5)
    # The request was not lost with the bad replies: the local answer goes out at the time-out.
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/not_recognized") == 1, timeout=5)
    assert watch.json(f"{PREFIX}/not_recognized")[0]["id"] == "e-1"
    watch.close()


def test_numbers_too_large_for_json_stay_text(engine) -> None:
    from edge_slm.service.messages import IntentMessage, ModelInfo, Source
    from edge_slm.service.wire import encode

    parse = engine.parse("set the bedroom lights to " + "9" * 400 + " percent")
    message = IntentMessage.from_parse(parse, id="big", source=Source.MQTT, model=ModelInfo("home", "x"),
                                       latency_ms=1.0).to_dict()
    text = encode(message).decode()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the message"))
    assert all(not isinstance(s["value"], float) or s["value"] < 1e15 for s in message["slots"])


def test_long_hermes_ids_are_truncated_before_use(broker, start_daemon, caplog) -> None:
    caplog.set_level(logging.INFO, logger="edge_slm.service")
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, ["hermes/#"])
    watch.publish("hermes/nlu/query", json.dumps({"input": "pause the music", "id": "i" * 10000,
                                                  "sessionId": "s" * 10000, "siteId": "k" * 10000,
                                                  "customData": "c" * 30000}))
    assert watch.wait_for(lambda m: any(t.startswith("hermes/intent/") for t, _, _ in m))
    intent = json.loads(next(p for t, p, _ in watch.messages if t.startswith("hermes/intent/")))
    assert len(intent["id"]) == 128 and len(intent["sessionId"]) == 128 and len(intent["siteId"]) == 64
    assert len(intent["customData"]) == 1024
    assert all(len(str(getattr(r, "id", ""))) <= 128 for r in caplog.records)
    watch.close()


def test_home_assistant_birth_floods_cost_one_discovery_round(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, ["homeassistant/+/+/+/config"])
    from edge_slm.engine.nlu import Engine

    round_size = 5 + len([i for i in Engine.load(None).manifest.intents if i != "oos"])
    assert watch.wait_for(lambda m: len(m) >= round_size)  # retained, from the connect
    before = len(watch.messages)
    flood = Collector(broker.port, ["unused"])
    for _ in range(2000):
        flood.publish("homeassistant/status", "online")
    time.sleep(2)
    assert len(watch.messages) - before <= before  # at most one round right away, the rest folded into one later
    flood.close()
    watch.close()


def test_client_id_collision_is_named_in_the_log(broker, start_daemon, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="edge_slm.service")
    start_daemon(make_config(broker.port, mqtt={"client_id": "twin"}))
    start_daemon(make_config(broker.port, mqtt={"client_id": "twin"}))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any("client id collision" in r.getMessage() for r in caplog.records):
        time.sleep(0.1)
    collision = [r for r in caplog.records if "client id collision" in r.getMessage()]
    assert collision and collision[0].client_id == "twin"


def test_an_unreachable_broker_is_logged_with_host_port_and_reason(engine, caplog) -> None:
    from edge_slm.service.broker import free_port
    from edge_slm.service.daemon import Daemon

    caplog.set_level(logging.INFO, logger="edge_slm.service")
    port = free_port()
    daemon = Daemon(make_config(port, mqtt={"client_id": "nobody-home"}), engine=engine)
    daemon.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(r.getMessage() == "broker unreachable; retrying"
                                                      for r in caplog.records):
            time.sleep(0.05)
    finally:
        daemon.stop(drain_timeout=1)
    attempt = next(r for r in caplog.records if r.getMessage() == "connecting to the broker")
    failure = next(r for r in caplog.records if r.getMessage() == "broker unreachable; retrying")
    assert attempt.broker == failure.broker == f"127.0.0.1:{port}"
    assert "refused" in failure.reason.lower()


def test_a_world_readable_password_file_is_refused(tmp_path: Path) -> None:
    from edge_slm.service.config import ConfigError

    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    os.chmod(secret, 0o644)
    config = make_config(1883, mqtt={"username": "u", "password_file": str(secret)})
    with pytest.raises(ConfigError, match="readable by every user"):
        config.password()
    os.chmod(secret, 0o600)
    assert config.password() == "hunter2"


def test_a_command_is_journalled_only_once_its_answer_is_the_brokers(tmp_path: Path) -> None:
    """Journalled before the answer's PUBACK, a SIGKILL in between would lose the command for good
    (the redelivery would be answered "duplicate"); this order was once seen losing one in 1,000."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_slm.service.acks import Acks, Delivery
    from edge_slm.service.recent import JOURNAL, RecentIds

    recent = RecentIds(state_dir=tmp_path)
    acks = Acks(mqtt.Client(CallbackAPIVersion.VERSION2, client_id="journal-order"))
    answer = mqtt.MQTTMessageInfo(41)
    answer.rc = mqtt.MQTT_ERR_SUCCESS
    acks.after(answer, Delivery(7, 1, acks.connection), answered=lambda: recent.persist("mqtt:id:k1"))
    assert "k1" not in (tmp_path / JOURNAL).read_text()  # the answer is not the broker's yet
    acks.on_publish(41)  # its PUBACK
    assert "k1" in (tmp_path / JOURNAL).read_text()
    recent.close()
