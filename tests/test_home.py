"""Knowing the home: the description file, resolution to entities, and never acting on a guess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, make_config
from mqtt_helpers import Collector

pytest.importorskip("rapidfuzz")
pytest.importorskip("yaml")

from edge_slm.home.model import HomeError, load_home  # noqa: E402
from edge_slm.home.resolve import Resolver  # noqa: E402

PREFIX = "edge-slm/default"

# Names that appear nowhere in the bundle's training data ("aquarium heater", "Grandma's Lamp").
HOME = """\
floors:
  - {id: ground, name: Ground floor, aliases: [downstairs]}
  - {id: upper, name: Upstairs}
areas:
  - {id: kitchen, name: Kitchen, floor: ground}
  - {id: porch, name: Porch, floor: ground}
  - {id: garage, name: Garage, floor: ground}
  - {id: bedroom, name: Bedroom, floor: upper, aliases: [master bedroom]}
  - {id: living_room, name: Living Room, floor: ground, aliases: [lounge]}
entities:
  - {entity_id: light.porch, name: Porch Light, aliases: [front light], area: porch}
  - {entity_id: light.kitchen_ceiling, name: Kitchen Ceiling, area: kitchen}
  - {entity_id: light.under_cabinet, name: Under Cabinet Lights, area: kitchen}
  - {entity_id: switch.kettle, name: Kettle, area: kitchen}
  - {entity_id: cover.garage_door, name: Garage Door, area: garage, device_class: garage}
  - {entity_id: switch.aquarium_heater, name: Aquarium Heater, area: living_room}
  - {entity_id: light.grandmas_lamp, name: Grandma's Lamp, area: living_room}
  - {entity_id: light.bedside, name: Bedside Lamp, area: bedroom}
  - {entity_id: fan.bedroom, name: Bedroom Fan, area: bedroom}
"""


@pytest.fixture()
def home_file(tmp_path: Path) -> Path:
    path = tmp_path / "home.yaml"
    path.write_text(HOME)
    return path


@pytest.fixture()
def resolver(home_file: Path) -> Resolver:
    return Resolver(load_home(home_file))


@pytest.mark.parametrize("text,site,targets", [
    ("turn off the porch light", None, ["light.porch"]),  # the model's span is only "porch"
    ("switch off the aquarium heater", None, ["switch.aquarium_heater"]),  # its span is only "heater"
    ("turn on Grandma's lamp", None, ["light.grandmas_lamp"]),  # taken for an area by the model
    ("open the garage door", None, ["cover.garage_door"]),  # no slots at all
    ("turn on the front light", None, ["light.porch"]),  # an alias
    ("turn of the kitchn lights", None, ["light.kitchen_ceiling", "light.under_cabinet"]),  # typos
    ("turn on the lights in the lounge", None, ["light.grandmas_lamp"]),  # an area alias, lights only
    ("turn off the lights upstairs", None, ["light.bedside"]),  # a floor
    ("turn on the lights", "kitchen", ["light.kitchen_ceiling", "light.under_cabinet"]),  # the satellite's area
])
def test_what_was_said_resolves_to_the_homes_entities(engine, resolver: Resolver, text: str, site: str | None,
                                                      targets: list[str]) -> None:
    resolution = resolver.resolve(engine.parse(text), site)
    assert [t.entity_id for t in resolution.targets] == targets
    assert not resolution.needs_target


@pytest.mark.parametrize("text", ["turn on the lights", "turn on the spaceship", "turn on the lights in the attic"])
def test_an_action_with_nothing_to_act_on_needs_a_target(engine, resolver: Resolver, text: str) -> None:
    resolution = resolver.resolve(engine.parse(text), None)
    assert resolution.targets == () and resolution.needs_target


def test_questions_and_other_intents_are_left_alone(engine, resolver: Resolver) -> None:
    resolution = resolver.resolve(engine.parse("what's the weather like"), "kitchen")
    assert resolution.targets == () and not resolution.needs_target


@pytest.mark.parametrize("body,message", [
    ("areas:\n  - {id: a, name: A, floor: nowhere}\n", "home.yaml:2: area floor 'nowhere' is not one of the floors"),
    ("entities:\n  - {entity_id: lamp, name: Lamp}\n", "home.yaml:2: entity_id 'lamp' must be domain.object_id"),
    ("entities:\n  - {entity_id: light.a, name: A, area: attic}\n", "home.yaml:2: area 'attic' of light.a"),
    ("areas:\n  - {id: a, name: A, colour: red}\n", "home.yaml:2: unknown key(s) colour in areas"),
    ("entities:\n  - {entity_id: light.a, name: A}\n  - {entity_id: light.a, name: B}\n",
     "home.yaml:3: entity_id 'light.a' appears twice"),
    ("areas:\n  - {id: a, name: }\n", "home.yaml:2: 'name' must be a non-empty string"),
    ("areas: [\n", "home.yaml:2: not valid YAML"),
    ("rooms: []\n", "home.yaml:1: unknown section(s) rooms"),
])
def test_home_check_names_the_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "home.yaml"
    path.write_text(body)
    with pytest.raises(HomeError) as caught:
        load_home(path)
    assert message in str(caught.value)
    result = subprocess.run([sys.executable, "-m", "edge_slm", "home", "check", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr


def test_home_check_cli_on_a_good_file(home_file: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "edge_slm", "home", "check", str(home_file), "--try",
                          "turn off the porch light", "--try", "turn off the kitchen lights and turn on the porch light"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.startswith("ok: 2 floors, 5 areas, 9 entities")
    one, compound = (json.loads(line)["actions"] for line in out.splitlines()[-2:])
    assert [(a["intent"], a["targets"]) for a in one] == [("HassTurnOff", ["light.porch"])]
    # What the daemon publishes: both actions of a compound command, each on its own devices.
    assert [(a["intent"], sorted(a["targets"])) for a in compound] == [
        ("HassTurnOff", ["light.kitchen_ceiling", "light.under_cabinet"]), ("HassTurnOn", ["light.porch"])]


def test_parse_understands_as_the_daemon_does(home_file: Path, tmp_path: Path) -> None:
    """``parse --config`` takes the daemon's path: the home, the room, compound commands, refusals."""
    config = tmp_path / "edge.toml"
    config.write_text(f'[site]\narea = "bedroom"\n[home]\nfile = "{home_file}"\n')
    lines = ["turn off the lights", "turn off the kitchen lights and turn on the porch light"]
    out = subprocess.run([sys.executable, "-m", "edge_slm", "parse", "--config", str(config)], input="\n".join(lines),
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    here, compound = (json.loads(line) for line in out.splitlines())
    assert here["intent"]["name"] == "HassTurnOff" and here["area"] == "bedroom"
    assert sorted(t["entity_id"] for t in here["targets"]) == ["light.bedside"]
    assert [m["intent"]["name"] for m in compound["actions"]] == ["HassTurnOff", "HassTurnOn"]
    assert compound["count"] == 2 and compound["actions"][1]["targets"][0]["entity_id"] == "light.porch"
    out = subprocess.run([sys.executable, "-m", "edge_slm", "parse", "--home", str(home_file), "turn on the thing"],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    vague = json.loads(out)  # heard nowhere in particular, naming nothing: refused, as the daemon refuses it
    assert not vague["recognized"] and vague["reason"] == "needs_target"


def _answers(watch: Collector, marker: str) -> dict[str, list[dict]]:
    assert watch.wait_for(lambda m: any(t.endswith("/response") and json.loads(p)["id"] == marker
                                        for t, p, _ in m), timeout=10)
    found: dict[str, list[dict]] = {}
    for topic, payload, _ in watch.messages:
        body = json.loads(payload)
        if body.get("id") == marker:
            found.setdefault(topic.rsplit("/", 1)[-1], []).append(body)
    return found


def test_the_daemon_publishes_targets_and_never_an_untargeted_action(broker, start_daemon, home_file: Path) -> None:
    start_daemon(make_config(broker.port, home={"file": str(home_file)}))
    watch = Collector(broker.port, [f"{PREFIX}/#", "hermes/intent/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn off the porch light", "id": "p"}))
    porch = _answers(watch, "p")
    intent = porch["intent"][0]
    assert intent["targets"] == [{"entity_id": "light.porch", "name": "Porch Light", "area": "porch",
                                  "domain": "light", "score": intent["targets"][0]["score"]}]
    assert porch["response"][0]["text"] == "Turned off the Porch Light"
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the lights", "id": "u"}))
    untargeted = _answers(watch, "u")
    assert "intent" not in untargeted
    assert untargeted["not_recognized"][0]["reason"] == "needs_target"
    assert untargeted["response"][0]["text"] == "Which device do you mean?"
    assert not [t for t, p, _ in watch.messages if t.startswith("hermes/intent/") and json.loads(p)["id"] == "u"]
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "what's the weather like", "id": "w"}))
    assert _answers(watch, "w")["intent"][0]["targets"] == []
    watch.close()


def test_the_site_area_and_a_reload_without_restart(broker, start_daemon, home_file: Path) -> None:
    start_daemon(make_config(broker.port, home={"file": str(home_file)}, site={"area": "kitchen"}))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the lights", "id": "k"}))
    kitchen = _answers(watch, "k")["intent"][0]
    assert {t["entity_id"] for t in kitchen["targets"]} == {"light.kitchen_ceiling", "light.under_cabinet"}
    assert kitchen["area"] == "kitchen" and kitchen["floor"] == "ground"
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the coffee maker", "id": "c0"}))
    assert _answers(watch, "c0")["not_recognized"][0]["reason"] == "needs_target"  # not in the home yet
    home_file.write_text(HOME + "  - {entity_id: switch.coffee_maker, name: Coffee Maker, area: kitchen}\n")
    time.sleep(2.5)  # the daemon looks for a changed file every 2 s
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the coffee maker", "id": "c"}))
    assert [t["entity_id"] for t in _answers(watch, "c")["intent"][0]["targets"]] == ["switch.coffee_maker"]
    home_file.write_text("entities: [\n")  # a broken edit keeps the home that worked
    time.sleep(2.5)
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the coffee maker", "id": "c2"}))
    assert [t["entity_id"] for t in _answers(watch, "c2")["intent"][0]["targets"]] == ["switch.coffee_maker"]
    watch.close()


def test_a_low_confidence_action_is_not_published(broker, start_daemon, engine) -> None:
    action, question = engine.parse("turn on the kitchen lights"), engine.parse("what's the weather like")
    assert action.intent == "HassTurnOn" and question.intent == "HassGetWeather"
    # The margin sits just above this action's confidence, and above the question's too.
    threshold = max(action.confidence, question.confidence) + 1e-6
    start_daemon(make_config(broker.port, model={"action_threshold": threshold}))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the kitchen lights", "id": "a"}))
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "what's the weather like", "id": "q"}))
    answers = _answers(watch, "a")
    assert "intent" not in answers and answers["not_recognized"][0]["reason"] == "low_confidence"
    assert "intent" in _answers(watch, "q")  # not an action on a device: the margin does not apply
    watch.close()


def test_without_a_home_an_action_that_names_nothing_is_not_published(broker, start_daemon) -> None:
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    for n, text in enumerate(["turn on the lights", "switch everything off", "turn it on"]):
        watch.publish(f"{PREFIX}/command", json.dumps({"text": text, "id": f"u{n}"}))
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the lights in the kitchen", "id": "k"}))
    for n in range(3):
        untargeted = _answers(watch, f"u{n}")
        assert "intent" not in untargeted and untargeted["not_recognized"][0]["reason"] == "needs_target"
    kitchen = _answers(watch, "k")["intent"][0]
    assert "targets" not in kitchen and kitchen["slots"][0]["name"] == "area"  # no home: slots only, as before
    watch.close()


@pytest.mark.parametrize("text,reply", [
    ("turn off the porch light", "Turned off the porch light"),  # not "Turned off the porch"
    ("turn off the garage fan", "Turned off the garage fan"),  # not "... the lights in the garage"
    ("turn on the lights in the den", "Turned on the lights in the den"),
    ("turn off the kitchen", "Turned off the lights in the kitchen"),  # a room alone: its lights
    ("lock the front door", "Locked the front door"),
    ("open the blinds in the office", "Opened the blinds in the office"),
])
def test_without_a_home_replies_say_what_was_said(engine, text: str, reply: str) -> None:
    from edge_slm.service.understand import Understander

    (decision,) = Understander(engine).understand(text)
    assert decision.recognized and decision.parse.response == reply


def test_without_a_home_the_room_a_command_came_from_goes_out_with_it(broker, start_daemon) -> None:
    # A satellite's "turn on the lights" must not leave a bare domain for the consumer to apply
    # to the whole house: the message and the reply say the room it was said in.
    start_daemon(make_config(broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the lights", "id": "k", "area": "kitchen"}))
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the lights in the den", "id": "d",
                                                   "area": "kitchen"}))
    kitchen = _answers(watch, "k")
    assert kitchen["intent"][0]["area"] == "kitchen" and "targets" not in kitchen["intent"][0]
    assert kitchen["response"][0]["text"] == "Turned on the lights in the kitchen"
    den = _answers(watch, "d")["intent"][0]  # the words name a room: the words win, no context area
    assert "area" not in den and den["slots"][0]["value"] == "den"
    watch.close()


@pytest.mark.parametrize("text,expected", [
    ("turn off the kitchen lights and turn on the hallway lights",
     [("HassTurnOff", [("area", "kitchen")]), ("HassTurnOn", [("area", "hallway")])]),
    ("add eggs and bread to the shopping list",
     [("HassShoppingListAddItem", [("item", "eggs")]), ("HassShoppingListAddItem", [("item", "bread")])]),
    ("put eggs and bread on my shopping list",
     [("HassShoppingListAddItem", [("item", "eggs")]), ("HassShoppingListAddItem", [("item", "bread")])]),
    ("set a timer for five minutes and then turn off the oven",
     [("HassStartTimer", [("minutes", "five")]), ("HassTurnOff", [("name", "oven")])]),
    ("play rock and roll", [("HassMediaSearchAndPlay", None)]),  # one action, not two
    ("turn on the kitchen lights", [("HassTurnOn", [("area", "kitchen")])]),
])
def test_compound_commands_give_one_parse_per_action(engine, text: str, expected: list) -> None:
    from edge_slm.engine.compound import parse_all

    parses = parse_all(engine, text)
    assert [(p.intent, [(s.name, p.text[s.start:s.end]) for s in p.slots] if slots is not None else None)
            for p, (_, slots) in zip(parses, expected)] == expected and len(parses) == len(expected)
    assert all(p.recognized and p.text == text for p in parses)


def test_a_compound_command_is_published_as_one_intent_per_action(broker, start_daemon, home_file: Path) -> None:
    start_daemon(make_config(broker.port, home={"file": str(home_file)}))
    watch = Collector(broker.port, [f"{PREFIX}/#", "hermes/intent/#"])
    watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn off the kitchen lights and turn on the porch light",
                                                   "id": "two"}))
    answers = _answers(watch, "two")
    intents = sorted(answers["intent"], key=lambda m: m["index"])
    assert [(m["intent"]["name"], m["index"], m["count"]) for m in intents] == [("HassTurnOff", 0, 2),
                                                                               ("HassTurnOn", 1, 2)]
    assert {t["entity_id"] for t in intents[0]["targets"]} == {"light.kitchen_ceiling", "light.under_cabinet"}
    assert [t["entity_id"] for t in intents[1]["targets"]] == ["light.porch"]
    assert answers["response"][0]["text"] == "Turned off the lights in the Kitchen. Turned on the Porch Light"
    assert watch.wait_for(lambda m: sum(t.startswith("hermes/intent/") for t, _, _ in m) == 2)
    watch.close()


def test_the_held_out_home_commands_stay_above_their_floor() -> None:
    """395 commands of our own against a home the model never saw (figures in BENCHMARKS.md).
    A regression floor, not the target: what must never happen is an untargeted action."""
    out = subprocess.run([sys.executable, "-m", "edge_slm", "home", "eval", str(ROOT / "tests/data/home-eval/home.yaml"),
                          "--data", str(ROOT / "tests/data/home-eval/commands.jsonl")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    right, total = (int(x) for x in out.split("commands with a target: ")[1].split()[0].split("/"))
    assert right / total >= FLOOR, out
    assert "commands that name nothing: 10/10 not acted on" in out
    assert "untargeted actions published: 0" in out


FLOOR = 0.95


@pytest.mark.parametrize("folder,floor", [("home-eval-2", FLOOR), ("home-eval-3", 0.9)])
def test_homes_written_later_stay_above_their_floor(folder: str, floor: float) -> None:
    """home-eval-2 was written after masking was built (and its misses were looked at); home-eval-3
    after it was final, scored once: 28/30 (BENCHMARKS.md)."""
    out = subprocess.run([sys.executable, "-m", "edge_slm", "home", "eval", str(ROOT / f"tests/data/{folder}/home.yaml"),
                          "--data", str(ROOT / f"tests/data/{folder}/commands.jsonl")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    right, total = (int(x) for x in out.split("commands with a target: ")[1].split()[0].split("/"))
    assert right / total >= floor, out
    assert "untargeted actions published: 0" in out


@pytest.mark.parametrize("text,intent,targets", [
    ("turn on the aquarium heater", "HassTurnOn", ["switch.aquarium_heater"]),  # "not recognised at all" before
    ("i want grandma's lamp on", "HassTurnOn", ["light.grandmas_lamp"]),
    ("kill the aquarium heater", "HassTurnOff", ["switch.aquarium_heater"]),
    ("could you switch the bedside lamp off", "HassTurnOff", ["light.bedside"]),
    ("turn on the aquarium heatr", "HassTurnOn", ["switch.aquarium_heater"]),  # a typo in an unseen name
])
def test_unseen_names_are_parsed_in_words_the_model_knows(engine, resolver: Resolver, text: str, intent: str,
                                                           targets: list[str]) -> None:
    from edge_slm.home.mask import HomeParser

    parse = HomeParser(engine, resolver.masker).parse(text)
    assert parse.recognized and parse.intent == intent and parse.text == text
    names = [s for s in parse.slots if s.name == "name"]
    assert names and all(text[s.start:s.end] == s.raw for s in parse.slots)  # offsets into what was said
    assert [t.entity_id for t in resolver.resolve(parse, None).targets] == targets
    assert "kettle" not in parse.response and "desk lamp" not in parse.response


def test_the_masker_finds_whole_names_longest_first(resolver: Resolver) -> None:
    found = resolver.masker.find("turn off grandmas lamp and the aquarium heatr and the kettle")
    assert [h.entity.entity_id for h in found if h.entity] == ["light.grandmas_lamp", "switch.aquarium_heater"]
    text = "turn off grandmas lamp and the aquarium heatr and the kettle"
    assert [text[h.start:h.end] for h in found] == ["grandmas lamp", "aquarium heatr"]
    assert resolver.masker.find("turn on the lights") == []  # one-word names and kinds are the model's


@pytest.mark.parametrize("text,reply", [
    ("close the study blinds", "Closed the Study Blinds"),
    ("open the garage door", "Opened the Garage Door"),
    ("turn off the fan in the bedroom", "Turned off the Bedroom Fan"),  # the only one there: named
    ("turn off the porch light", "Turned off the Porch Light"),
    ("turn off the lights in the kitchen", "Turned off the lights in the Kitchen"),
])
def test_replies_name_what_was_resolved_in_its_own_words(engine, home_file: Path, text: str, reply: str) -> None:
    from edge_slm.service.decide import decide

    home_file.write_text(HOME + "  - {entity_id: cover.study_blinds, name: Study Blinds, area: bedroom}\n")
    decision = decide(engine.parse(text), engine.responder, Resolver(load_home(home_file)), None, 0.8, engine.actions)
    parse, resolution, reason = decision.parse, decision.resolution, decision.reason
    assert reason is None and parse.response == reply, (parse.intent, [t.entity_id for t in resolution.targets])


def test_domain_wide_commands_act_on_every_such_device_and_only_those_that_can(engine, tmp_path: Path) -> None:
    """"all the lights" is every light; "in the house" is no area but the whole home; a power sensor
    called "House Current" is never an action's target."""
    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander

    home = tmp_path / "home.yaml"
    home.write_text(HOME + "  - {entity_id: sensor.house_current, name: House Current}\n"
                           "  - {entity_id: cover.bedroom_blinds, name: Bedroom Blinds, area: bedroom, device_class: blind}\n")
    understander = Understander(engine, HomeFile(str(home)))
    lights = ["light.bedside", "light.grandmas_lamp", "light.kitchen_ceiling", "light.porch", "light.under_cabinet"]
    for text in ("turn off all the lights", "turn off all the lights in the house", "activate every light in the home"):
        (decision,) = understander.understand(text)
        assert decision.recognized, text
        assert sorted(t.entity_id for t in decision.resolution.targets) == lights, text
    (off,) = understander.understand("turn off all the lights")
    assert off.parse.response == "Turned off 5 lights"
    (upstairs,) = understander.understand("turn off every light upstairs")
    assert [t.entity_id for t in upstairs.resolution.targets] == ["light.bedside"]
    (blinds,) = understander.understand("close all the blinds")
    assert [t.entity_id for t in blinds.resolution.targets] == ["cover.bedroom_blinds"]  # not the garage door
    (vague,) = understander.understand("turn off the lights")  # heard nowhere in particular: not the whole house
    assert not vague.recognized


def test_actions_only_target_domains_that_can_perform_them(engine) -> None:
    """Every action intent of the bundle against every domain a home may hold."""
    from edge_slm.home.model import Entity, Home
    from edge_slm.home.resolve import ACTION_DOMAINS

    domains = ["light", "switch", "fan", "cover", "lock", "climate", "media_player", "sensor", "binary_sensor",
               "person", "weather", "camera", "valve", "scene"]
    entities = tuple(Entity(f"{d}.thing", f"{d.replace('_', ' ')} thing", d, "kitchen") for d in domains)
    from edge_slm.home.model import Area

    resolver = Resolver(Home(areas=(Area("kitchen", "Kitchen"),), entities=entities,
                             by_area={"kitchen": entities}))
    for intent in engine.actions:
        allowed = ACTION_DOMAINS[intent]
        assert not allowed & {"sensor", "binary_sensor", "person", "weather", "camera"}, intent
        for entity in entities:
            parse = engine.parse(f"turn on the {entity.name}")
            parse = type(parse)(parse.text, intent, 0.99, True, parse.slots, "")
            targets = resolver.resolve(parse, None, engine.actions).targets
            assert all(t.domain in allowed for t in targets), (intent, entity.entity_id, targets)


def test_a_device_named_that_cannot_do_what_was_heard_is_refused(engine) -> None:
    """Media controls reach only media players: "stop the espresso machine" taken for a pause is
    never sent to the switch (as a refusal, not a bare pause Home Assistant would send anywhere)."""
    from edge_slm.home.model import Area, Entity, Home

    kitchen = (Entity("switch.espresso_machine", "Espresso Machine", "switch", "kitchen"),
               Entity("media_player.kitchen_speaker", "Kitchen Speaker", "media_player", "kitchen"))
    resolver = Resolver(Home(areas=(Area("kitchen", "Kitchen"),), entities=kitchen, by_area={"kitchen": kitchen}))
    from edge_slm.engine.nlu import Slot

    parse = engine.parse("stop the espresso machine")
    name = Slot("name", "espresso machine", "espresso machine", 9, 25, 0.99)  # as masking tags it
    pause = type(parse)(parse.text, "HassMediaPause", 0.99, True, (name,), "")
    resolution = resolver.resolve(pause, None, engine.actions)
    assert resolution.targets == () and resolution.needs_target
    speaker = engine.parse("pause the kitchen speaker")
    assert speaker.intent == "HassMediaPause"
    assert [t.entity_id for t in resolver.resolve(speaker, None, engine.actions).targets] == \
        ["media_player.kitchen_speaker"]


@pytest.mark.parametrize("text,reply", [
    ("set the brightness of the kitchen lights to 250 percent", "Brightness must be from 0 to 100 percent, not 250"),
    ("set the temperature to 300 degrees", "Temperature must be from 0 to 100 degrees, not 300"),
])
def test_a_number_no_device_takes_is_never_published(engine, text: str, reply: str) -> None:
    from edge_slm.service.messages import Reason
    from edge_slm.service.understand import Understander

    (decision,) = Understander(engine, site_area="kitchen").understand(text)
    assert not decision.recognized and decision.reason is Reason.INVALID_VALUE
    assert decision.parse.response == reply


def test_every_numeric_value_checked_is_one_the_engine_can_give() -> None:
    from edge_slm.engine.nlu import NUMERIC_SLOTS
    from edge_slm.service.decide import _RANGES

    assert set(_RANGES) <= NUMERIC_SLOTS


NEWCOMER_HOME = """
areas:
  - {id: living_room, name: Living Room}
  - {id: bedroom, name: Bedroom}
  - {id: kitchen, name: Kitchen}
entities:
  - {entity_id: media_player.living_room_tv, name: Living Room TV, area: living_room}
  - {entity_id: light.bedroom_lamp, name: Bedroom Lamp, area: bedroom}
  - {entity_id: light.kitchen_ceiling, name: Kitchen Ceiling, area: kitchen}
  - {entity_id: climate.hallway_thermostat, name: Hallway Thermostat, aliases: [heating]}
  - {entity_id: lock.back_door, name: Back Door}
"""


@pytest.mark.parametrize("text,intent,targets,reply,reason", [
    # The room said constrains the name: never the living room's TV for the bedroom.
    ("turn on the tv in the bedroom", None, [], "There is no tv in the Bedroom", "needs_target"),
    ("turn on the tv in the living room", "HassTurnOn", ["media_player.living_room_tv"], None, None),
    # A thermostat by its alias, or the only one the home has.
    ("set the heating to 21", "HassClimateSetTemperature", ["climate.hallway_thermostat"], None, None),
    ("set the temperature to 21 degrees", "HassClimateSetTemperature", ["climate.hallway_thermostat"], None, None),
    ("lock the back door", "HassTurnOn", ["lock.back_door"], "Locked the Back Door", None),
    # Words that say the opposite of the action: not acted on.
    ("make the kitchen dark", None, [], None, "contradicted"),
    ("turn up the music", None, [], None, "contradicted"),
    ("pause the music", "HassMediaPause", [], None, None),
])
def test_a_newcomers_home_gets_what_was_meant_or_nothing(engine, tmp_path: Path, text: str, intent, targets,
                                                         reply, reason) -> None:
    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander

    home = tmp_path / "home.yaml"
    home.write_text(NEWCOMER_HOME)
    (decision,) = Understander(engine, HomeFile(str(home))).understand(text)
    assert (decision.parse.intent if decision.recognized else None) == intent
    assert sorted(t.entity_id for t in (decision.resolution.targets if decision.resolution else ())) == targets
    assert (str(decision.reason) if decision.reason else None) == reason
    if reply is not None:
        assert decision.parse.response == reply


ODD_ROOMS_HOME = """\
areas:
  - {id: orangery, name: Orangery}
  - {id: scullery, name: Scullery}
  - {id: vestibule, name: Vestibule}
  - {id: mezzanine, name: Mezzanine}
entities:
  - {entity_id: light.orangery, name: Orangery Pendant, area: orangery}
  - {entity_id: light.scullery, name: Strip Light, area: scullery}
  - {entity_id: light.vestibule, name: Hall Lantern, area: vestibule}
  - {entity_id: light.mezzanine, name: Wall Washers, area: mezzanine}
  - {entity_id: fan.mezzanine, name: Ceiling Fan, area: mezzanine}
"""


# Each of these was a colour, out of scope or under the action threshold before the room was
# masked ("turn on the lights in the orangery": HassLightSet with the colour "orangery").
@pytest.mark.parametrize("text,intent,targets", [
    ("turn on the lights in the orangery", "HassTurnOn", ["light.orangery"]),
    ("turn on the lights in the scullery", "HassTurnOn", ["light.scullery"]),
    ("turn on the lights in the vestibule", "HassTurnOn", ["light.vestibule"]),
    ("turn on the lights in the mezzanine", "HassTurnOn", ["light.mezzanine"]),
    ("switch off the ceiling fan in the mezzanine", "HassTurnOff", ["fan.mezzanine"]),
])
def test_rooms_the_model_never_saw_are_parsed_as_a_room_it_knows(engine, tmp_path: Path, text: str, intent: str,
                                                                  targets: list[str]) -> None:
    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander

    home = tmp_path / "home.yaml"
    home.write_text(ODD_ROOMS_HOME)
    (decision,) = Understander(engine, HomeFile(str(home))).understand(text)
    assert decision.recognized and decision.parse.intent == intent, decision
    assert sorted(t.entity_id for t in decision.resolution.targets) == targets
    assert "kitchen" not in decision.parse.response.lower()  # the placeholder never shows
    assert all(text[s.start:s.end] == s.raw for s in decision.parse.slots)


def test_a_compound_commands_parts_are_judged_on_their_own_words(engine, home_file: Path) -> None:
    # "off" in the first part says nothing against the second part's "turn on".
    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander

    decisions = Understander(engine, HomeFile(str(home_file))).understand(
        "turn off the kitchen lights and turn on the porch light")
    assert [d.parse.intent for d in decisions if d.recognized] == ["HassTurnOff", "HassTurnOn"]


def test_everyday_sentences_per_family_do_not_regress(engine) -> None:
    """The everyday set written for evaluation (export/recipes/eval): the shipped bundle holds the
    floors its recipe builds to (95% overall, 75% in every family: commands, questions about
    lights, locks and covers, and about sensors), as the build that wrote it checked."""
    from edge_slm.engine.labelled import read_jsonl
    from export.evaluate import family_scores

    examples = list(read_jsonl(ROOT / "export/recipes/eval/home-everyday.jsonl"))
    families = family_scores(engine, examples)
    low = {f: f"{s.intent_correct}/{s.total}" for f, s in families.items() if s.intent_accuracy < 75.0}
    assert low == {}, low
    assert sum(s.intent_correct for s in families.values()) >= 0.95 * len(examples)
