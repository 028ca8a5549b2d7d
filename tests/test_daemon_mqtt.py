"""The daemon against a real Mosquitto: topics, MQTT 5 and 3.1.1, Hermes, HA discovery, limits."""

from __future__ import annotations

import json
import time

import pytest
from conftest import make_config
from mqtt_helpers import Collector
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PREFIX = "edge-slm/default"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_round_trip_on_native_topics(broker, start_daemon, protocol: str) -> None:
    start_daemon(make_config(broker.port, mqtt={"protocol": protocol}))
    watch = Collector(broker.port, [f"{PREFIX}/#"], protocol=protocol)
    watch.publish(f"{PREFIX}/command", "turn on the lights in the kitchen")
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "what's the weather like", "id": "w-1"}))
    assert watch.wait_for(lambda m: sum(t == f"{PREFIX}/response" for t, _, _ in m) >= 2)
    intents = watch.json(f"{PREFIX}/intent")
    assert {i["intent"]["name"] for i in intents} == {"HassTurnOn", "HassGetWeather"}
    light = next(i for i in intents if i["intent"]["name"] == "HassTurnOn")
    assert light["source"] == "mqtt" and light["model"]["name"] == "home"
    assert {"name": "area", "value": "kitchen"}.items() <= light["slots"][0].items()
    assert next(i for i in intents if i["id"] == "w-1")["text"] == "what's the weather like"
    responses = watch.json(f"{PREFIX}/response")
    assert {r["intent"] for r in responses} == {"HassTurnOn", "HassGetWeather"}
    status = watch.json(f"{PREFIX}/status")
    assert status and status[0]["state"] == "online"
    watch.close()


@pytest.mark.parametrize("allowed,topic", [([], f"{PREFIX}/reply/me"), (["replies/"], "replies/me")])
def test_mqtt5_response_topic_and_correlation_data(broker, start_daemon, allowed: list[str], topic: str) -> None:
    start_daemon(make_config(broker.port, mqtt={"response_topics": allowed}))
    watch = Collector(broker.port, [topic])
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topic
    props.CorrelationData = b"corr-42"
    watch.publish(f"{PREFIX}/command", "switch off the bedroom fan", properties=props)
    assert watch.wait_for(lambda m: len(m) >= 1)
    topic, payload, properties = watch.messages[0]
    assert json.loads(payload)["intent"]["name"] == "HassTurnOff"
    assert properties.CorrelationData == b"corr-42"
    watch.close()


def test_hermes_messages_parse_with_rhasspy_hermes(broker, start_daemon) -> None:
    nlu = pytest.importorskip("rhasspyhermes.nlu")
    tts = pytest.importorskip("rhasspyhermes.tts")
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, ["hermes/intent/#", "hermes/nlu/intentNotRecognized", "hermes/tts/say"])
    query = nlu.NluQuery(input="set the living room lights to fifty percent", site_id="kitchen",
                         session_id="s-1", id="q-1")
    watch.publish(nlu.NluQuery.topic(), json.dumps(query.to_dict()))
    watch.publish(nlu.NluQuery.topic(), json.dumps(nlu.NluQuery(input="what is the capital of peru",
                                                                site_id="kitchen", session_id="s-2", id="q-2").to_dict()))
    assert watch.wait_for(lambda m: sum(t == "hermes/tts/say" for t, _, _ in m) >= 2)
    intent_msgs = [(t, p) for t, p, _ in watch.messages if t.startswith("hermes/intent/")]
    assert len(intent_msgs) == 1
    topic, payload = intent_msgs[0]
    parsed = nlu.NluIntent.from_dict(json.loads(payload))
    assert topic == nlu.NluIntent.topic(intent_name="HassLightSet")
    assert parsed.intent.intent_name == "HassLightSet"
    assert (parsed.site_id, parsed.session_id, parsed.id) == ("kitchen", "s-1", "q-1")
    slots = {s.slot_name: s for s in parsed.slots}
    assert slots["brightness"].value["value"] == 50 and slots["brightness"].value["kind"] == "Number"
    assert slots["brightness"].raw_value == "fifty"
    assert slots["area"].entity == "area" and slots["area"].range.start == 8
    missed = [nlu.NluIntentNotRecognized.from_dict(json.loads(p))
              for t, p, _ in watch.messages if t == "hermes/nlu/intentNotRecognized"]
    assert missed and missed[0].session_id == "s-2" and missed[0].input == "what is the capital of peru"
    says = [tts.TtsSay.from_dict(json.loads(p)) for t, p, _ in watch.messages if t == "hermes/tts/say"]
    assert all(s.site_id == "kitchen" and s.text for s in says)
    watch.close()


def test_home_assistant_discovery_retained_and_on_birth(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, ["homeassistant/+/+/+/config"])
    from edge_slm.engine.nlu import Engine

    intents = [i for i in Engine.load(None).manifest.intents if i != "oos"]
    expected = 5 + len(intents)
    assert watch.wait_for(lambda m: len(m) >= expected)  # retained: arrives on subscribe
    configs = {t: json.loads(p) for t, p, _ in watch.messages}
    node = "homeassistant/{}/edge_slm_default/{}/config"
    assert set(configs) == {node.format("binary_sensor", "status"), node.format("sensor", "last_intent"),
                            node.format("sensor", "last_command"), node.format("event", "intent"),
                            node.format("text", "command")} | {
        node.format("device_automation", i.lower()) for i in intents}
    for config in configs.values():
        assert config["device"]["identifiers"] == ["edge_slm_default"]
    assert configs[node.format("sensor", "last_intent")]["state_topic"] == f"{PREFIX}/intent"
    event = configs[node.format("event", "intent")]
    assert event["state_topic"] == f"{PREFIX}/intent" and event["event_types"] == intents
    text = configs[node.format("text", "command")]
    assert text["command_topic"] == f"{PREFIX}/command"
    trigger = configs[node.format("device_automation", "hassturnon")]
    assert (trigger["automation_type"], trigger["subtype"], trigger["payload"]) == ("trigger", "HassTurnOn", "HassTurnOn")
    before = len(watch.messages)
    watch.publish("homeassistant/status", "online")
    assert watch.wait_for(lambda m: len(m) >= before + expected)
    watch.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_thousands_of_malformed_payloads_each_get_an_error(broker, start_daemon, protocol: str) -> None:
    start_daemon(make_config(broker.port, mqtt={"protocol": protocol},
                             limits={"rate_per_second": 0.0, "queue_size": 4096}))
    watch = Collector(broker.port, [f"{PREFIX}/error", f"{PREFIX}/intent"])
    bad: list[bytes] = []
    for i in range(400):
        bad += [b"{bad json %d" % i, b"\xff\xfe\xfd" + bytes([i % 256]), b"", b"   ",
                json.dumps({"text": i}).encode(), json.dumps({"text": ["x"]}).encode(),
                json.dumps([1, 2, 3]).encode(), json.dumps({"id": {"x": 1}, "text": "hi"}).encode()]
    huge = [b"x" * (1 << 20)] * 3
    for payload in bad + huge + [json.dumps({"text": "a" * 5000}).encode()]:
        watch.publish(f"{PREFIX}/command", payload)
    # MQTT 5: the daemon announced its maximum packet size, so the broker never sends it the 1 MB
    # payloads (they cannot cost the daemon memory); 3.1.1 has no such property: read, then refused.
    expected = len(bad) + 1 + (0 if protocol == "5" else len(huge))
    assert watch.wait_for(lambda m: len(m) >= expected, timeout=60), f"{len(watch.messages)} of {expected}"
    time.sleep(0.3)
    errors = watch.json(f"{PREFIX}/error")
    assert len(errors) == expected
    codes = {e["code"] for e in errors}
    assert codes == {"invalid_json", "invalid_utf8", "empty_text", "invalid_field", "text_too_long"} | (
        set() if protocol == "5" else {"payload_too_large"})
    watch.publish(f"{PREFIX}/command", "turn off the porch light")
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/intent") == 1, timeout=10)
    assert watch.json(f"{PREFIX}/intent")[0]["intent"]["name"] == "HassTurnOff"
    watch.close()


def test_rate_limit_and_overload_answer_instead_of_growing(broker, start_daemon) -> None:
    daemon = start_daemon(make_config(broker.port, limits={"rate_per_second": 2.0, "burst": 3}))
    watch = Collector(broker.port, [f"{PREFIX}/error", f"{PREFIX}/response"])
    for _ in range(10):
        watch.publish(f"{PREFIX}/command", "pause the music")
    assert watch.wait_for(lambda m: len(m) >= 10)
    codes = [e["code"] for e in watch.json(f"{PREFIX}/error")]
    assert codes.count("rate_limited") >= 6
    assert watch.count(f"{PREFIX}/response") >= 3

    from edge_slm.service.daemon import Request
    from edge_slm.service.messages import Source

    daemon.intake.limiter.rate = 0  # isolate the queue bound
    release = __import__("threading").Event()
    real_parse = daemon.engine.parse
    daemon.engine.parse = lambda text: (release.wait(5), real_parse(text))[1]  # a slow model
    try:
        results = [daemon.submit(Request(f"r{i}", "pause the music", Source.MQTT))
                   for i in range(daemon.intake.queue.maxsize + 5)]
    finally:
        release.set()
        del daemon.engine.parse
    assert results.count(False) >= 4
    assert watch.wait_for(lambda m: sum(json.loads(p).get("code") == "overloaded"
                                        for t, p, _ in m if t.endswith("/error")) >= 4)
    watch.close()


def test_escalation_reply_and_timeout(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port, escalation={"enabled": True, "timeout_s": 1.0}))
    watch = Collector(broker.port, [f"{PREFIX}/escalate", f"{PREFIX}/response", f"{PREFIX}/not_recognized",
                                    f"{PREFIX}/intent"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "tell me a joke about cats", "id": "e-1"}))
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/escalate") == 1)
    asked = watch.json(f"{PREFIX}/escalate")[0]
    assert asked["id"] == "e-1" and asked["text"] == "tell me a joke about cats"
    watch.publish(f"{PREFIX}/escalate/reply", json.dumps({
        "id": "e-1", "intent": {"name": "TellJoke", "confidence": 0.9},
        "response": "Why did the cat sit on the computer?", "model": "big"}))
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/response") == 1)
    assert watch.json(f"{PREFIX}/response")[0]["text"] == "Why did the cat sit on the computer?"
    assert watch.json(f"{PREFIX}/intent")[0]["model"]["name"] == "big"
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "what is the capital of peru", "id": "e-2"}))
    started = time.monotonic()
    assert watch.wait_for(lambda m: watch.count(f"{PREFIX}/not_recognized") == 1, timeout=5)
    assert time.monotonic() - started >= 0.9
    assert watch.json(f"{PREFIX}/not_recognized")[0]["id"] == "e-2"
    watch.close()


def test_shared_subscription_splits_the_stream(broker, start_daemon) -> None:
    first = start_daemon(make_config(broker.port, mqtt={"shared_group": "nlu", "client_id": "a"},
                                     limits={"rate_per_second": 0.0}))
    second = start_daemon(make_config(broker.port, mqtt={"shared_group": "nlu", "client_id": "b"},
                                      limits={"rate_per_second": 0.0}))
    watch = Collector(broker.port, [f"{PREFIX}/response"])
    for i in range(200):
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the desk lamp", "id": f"s{i}"}))
    assert watch.wait_for(lambda m: len(m) >= 200, timeout=30)
    time.sleep(0.3)
    ids = [r["id"] for r in watch.json(f"{PREFIX}/response")]
    assert sorted(ids) == sorted(f"s{i}" for i in range(200))  # each exactly once
    assert first.handled > 20 and second.handled > 20
    watch.close()
