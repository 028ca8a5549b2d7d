"""The Wyoming intent service, spoken to with the wyoming package's own client over real TCP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("wyoming")

from wyoming.asr import Transcript  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.intent import Intent, IntentsStart, IntentsStop, NotRecognized  # noqa: E402

from edge_slm.service.broker import free_port, wait_port  # noqa: E402


@pytest.fixture()
def service(engine):
    """The service on a free loopback port, in its own thread, as the daemon runs it."""
    from conftest import make_config

    from edge_slm.service.understand import Understander
    from edge_slm.service.wyoming import Channel, WyomingThread

    port = free_port()
    config = make_config(1883)
    running = WyomingThread(f"tcp://127.0.0.1:{port}", Channel(Understander(engine), config)).start()
    assert wait_port(port, 5)
    yield port
    running.stop()


async def _ask(port: int, *events: Event, answers: int = 1) -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        got = []
        for _ in range(answers):
            event = await asyncio.wait_for(client.read_event(), 5)
            assert event is not None
            got.append(event)
        return got


def test_describe_lists_one_intent_program_with_the_bundles_language(service: int) -> None:
    (event,) = asyncio.run(_ask(service, Describe().event()))
    info = Info.from_event(event)
    assert len(info.intent) == 1 and info.intent[0].models[0].languages == ["en"]
    assert info.intent[0].models[0].name == "home"


def test_a_transcript_gives_an_intent_with_home_assistants_slot_names(service: int) -> None:
    (event,) = asyncio.run(_ask(service, Transcript(text="set the living room lights to fifty percent").event()))
    intent = Intent.from_event(event)
    assert intent.name == "HassLightSet" and intent.text  # what Home Assistant speaks
    # "lights": the domain goes out too, so that nothing else in the living room is touched.
    assert {e.name: e.value for e in intent.entities} == {"area": "living room", "brightness": 50, "domain": "light"}


@pytest.mark.parametrize("text,kind", [
    ("is the hallway light on", "yes_no"), ("are any lights on", "any"), ("are all the lights off", "all"),
    ("which lights are on", "which"), ("how many lights are on", "how_many"),
])
def test_questions_are_answered_with_our_own_templates_never_the_users_words(service: int, text: str,
                                                                              kind: str) -> None:
    from edge_slm.service.answers import TEMPLATES

    (event,) = asyncio.run(_ask(service, Transcript(text=text).event()))
    intent = Intent.from_event(event)
    assert intent.name == "HassGetState" and intent.text == TEMPLATES[kind]
    entities = {e.name: e.value for e in intent.entities}
    assert entities["domain"] == "light" and entities["state"] in ("on", "off")


def test_a_question_with_template_code_in_it_carries_it_only_as_a_slot(service: int) -> None:
    from edge_slm.service.answers import TEMPLATES

    (event,) = asyncio.run(_ask(service, Transcript(text="is the {{ states.lock }} light on").event()))
    if Intent.is_type(event.type):
        intent = Intent.from_event(event)
        assert intent.text in TEMPLATES.values()
    else:
        assert "{{" not in (NotRecognized.from_event(event).text or "")


def test_a_compound_command_is_intents_start_intents_stop(service: int) -> None:
    events = asyncio.run(_ask(service, Transcript(
        text="turn off the kitchen lights and turn on the hallway lights").event(), answers=4))
    assert IntentsStart.is_type(events[0].type) and IntentsStop.is_type(events[-1].type)
    intents = [Intent.from_event(e) for e in events[1:3]]
    assert [(i.name, i.entities[0].value) for i in intents] == [("HassTurnOff", "kitchen"), ("HassTurnOn", "hallway")]


def test_words_said_never_reach_home_assistant_as_template_code(service: int) -> None:
    (event,) = asyncio.run(_ask(service, Transcript(
        text="add {{milk}} to my shopping list").event()))
    intent = Intent.from_event(event)
    assert intent.name == "HassShoppingListAddItem" and intent.text == "Added milk"
    from edge_slm.engine.nlu import Parse
    from edge_slm.service.wyoming import speech

    hostile = Parse("x", "HassListAddItem", 1.0, True, (), "Added {{ states('lock.front_door') }} {% if 1 %}")
    assert "{" not in speech(hostile) and "}" not in speech(hostile)


@pytest.mark.parametrize("text", ["what is the capital of peru", "turn on the lights"])
def test_out_of_scope_and_untargeted_commands_are_not_recognized(service: int, text: str) -> None:
    (event,) = asyncio.run(_ask(service, Transcript(text=text).event()))
    assert NotRecognized.is_type(event.type) and NotRecognized.from_event(event).text


def test_bad_events_are_answered_and_the_connection_kept(service: int) -> None:
    async def scenario() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", service) as client:
            await client.write_event(Event(type="transcript", data={"no_text": 1}))
            first = await asyncio.wait_for(client.read_event(), 5)
            await client.write_event(Event(type="audio-chunk", data={"rate": 16000}))  # not ours: ignored
            await client.write_event(Transcript(text="x" * 5000).event())
            second = await asyncio.wait_for(client.read_event(), 5)
            await client.write_event(Transcript(text="pause the music").event())
            third = await asyncio.wait_for(client.read_event(), 5)
            return [first, second, third]

    first, second, third = asyncio.run(scenario())
    assert NotRecognized.is_type(first.type) and "malformed" in NotRecognized.from_event(first).text
    assert NotRecognized.is_type(second.type)
    assert Intent.from_event(third).name == "HassMediaPause"


def test_a_client_that_leaves_mid_event_does_not_stop_the_service(service: int) -> None:
    async def leave_early() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", service)
        header = json.dumps({"type": "transcript", "data_length": 500}).encode() + b"\n"
        writer.write(header + b'{"text": "turn on')  # half of the promised data, then gone
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    asyncio.run(leave_early())
    (event,) = asyncio.run(_ask(service, Transcript(text="turn on the kitchen lights").event()))
    assert Intent.from_event(event).name == "HassTurnOn"


def test_edge_slm_wyoming_runs_alone(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edge_slm", "wyoming", "--uri", f"tcp://127.0.0.1:{port}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_port(port, 30)
        (event,) = asyncio.run(_ask(port, Transcript(text="turn off the porch light").event()))
        assert Intent.from_event(event).name == "HassTurnOff"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_a_looping_client_is_rate_limited_like_mqtt(engine) -> None:
    from conftest import make_config

    from edge_slm.service.understand import Understander
    from edge_slm.service.wyoming import Channel, WyomingThread

    port = free_port()
    config = make_config(1883, limits={"rate_per_second": 1.0, "burst": 2})
    running = WyomingThread(f"tcp://127.0.0.1:{port}", Channel(Understander(engine), config)).start()
    try:
        assert wait_port(port, 5)
        events = asyncio.run(_ask(port, *[Transcript(text="pause the music").event()] * 6, answers=6))
    finally:
        running.stop()
    limited = [e for e in events if NotRecognized.is_type(e.type) and "commands/s" in NotRecognized.from_event(e).text]
    assert 3 <= len(limited) <= 4 and Intent.is_type(events[0].type)


def test_zeroconf_announces_the_service_and_withdraws_it(engine) -> None:
    pytest.importorskip("zeroconf")
    from conftest import make_config

    from edge_slm.service.understand import Understander
    from edge_slm.service.wyoming import Channel, WyomingThread

    port = free_port()
    config = make_config(1883, site={"id": "zc-test"}, wyoming={"zeroconf": True})
    # Looked up from another process, as Home Assistant would from another host.
    lookup = ("import sys\nfrom zeroconf import Zeroconf\nzc = Zeroconf(interfaces=['127.0.0.1'])\n"
              "info = zc.get_service_info('_wyoming._tcp.local.', 'edge-slm-zc-test._wyoming._tcp.local.', 3000)\n"
              "print(info.port if info else 'none', info.properties.get(b'program') if info else '')\nzc.close()\n")
    running = WyomingThread(f"tcp://127.0.0.1:{port}", Channel(Understander(engine), config)).start()
    try:
        assert wait_port(port, 5)
        found = subprocess.run([sys.executable, "-c", lookup], capture_output=True, text=True, timeout=30)
    finally:
        running.stop()
    assert found.stdout.split()[0] == str(port), found.stdout + found.stderr
    gone = subprocess.run([sys.executable, "-c", lookup.replace("3000", "1000")], capture_output=True, text=True,
                          timeout=30)
    assert gone.stdout.split()[0] == "none"


@pytest.mark.parametrize(("said", "sent"), [("blinds", "blind"), ("Garage Door", "garage"), ("curtains", "curtain"),
                                            ("television", "tv"), ("lamps", None)])
def test_device_classes_go_out_as_home_assistants_enums(said: str, sent: str | None) -> None:
    from edge_slm.service.wyoming import device_class

    assert device_class(said) == sent


SATELLITE_HOME = """
areas:
  - {id: kitchen, name: Kitchen}
  - {id: hallway, name: Hallway}
entities:
  - {entity_id: light.kitchen_pendant, name: Kitchen Pendant, area: kitchen}
  - {entity_id: light.kitchen_spots, name: Kitchen Spots, area: kitchen}
  - {entity_id: light.hallway_light, name: Hallway Light, area: hallway}
devices:
  - {id: 5f1e0c0ffee, name: Kitchen Voice, area: kitchen, satellite: assist_satellite.kitchen_voice}
  - {id: 77aa55hall, name: Hallway Voice, area: hallway}
"""


@pytest.mark.parametrize("context,area", [
    ({"device_id": "5f1e0c0ffee", "conversation_id": "c"}, "Kitchen"),
    ({"satellite_id": "assist_satellite.kitchen_voice"}, "Kitchen"),
    ({"device_id": "77aa55hall"}, "Hallway"),
    (None, None),  # no satellite, no [site] area: a bare "the lights" is not acted on
    ({"device_id": "not-in-the-home"}, None),
    ({"device_id": ["5f1e0c0ffee"]}, None),  # untrusted: only strings are ids
    ({"device_id": "5f1e0c0ffee" * 40}, None),
    ("5f1e0c0ffee", None),
])
def test_a_satellites_sentence_acts_in_the_satellites_room(engine, tmp_path: Path, context, area) -> None:
    # Home Assistant names the satellite's device with each sentence; for an external agent's
    # intent it does not narrow a bare domain to that room, so the area must go out with the intent.
    from conftest import make_config

    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander
    from edge_slm.service.wyoming import Channel, WyomingThread

    home = tmp_path / "home.yaml"
    home.write_text(SATELLITE_HOME)
    port = free_port()
    running = WyomingThread(f"tcp://127.0.0.1:{port}", Channel(Understander(engine, HomeFile(str(home))),
                                                               make_config(1883))).start()
    try:
        assert wait_port(port, 5)
        (event,) = asyncio.run(_ask(port, Transcript(text="turn off the lights", context=context).event()))
    finally:
        running.stop()
    if area is None:
        assert NotRecognized.is_type(event.type)
        return
    intent = Intent.from_event(event)
    assert intent.name == "HassTurnOff"
    assert {e.name: e.value for e in intent.entities} == {"area": area, "domain": "light"}
    assert area in (intent.text or "")
