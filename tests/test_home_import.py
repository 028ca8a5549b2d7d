"""`edge-slm home import` without a Home Assistant: what it writes from registries that a real
Home Assistant 2026.11 sent (tests/data/ha-registries.json, recorded by tests/test_home_assistant.py),
and its errors. The import against the live WebSocket API is in tests/test_home_assistant.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from edge_slm.home.hass_import import ImportFailed, Registries, home_data, websocket_url
from edge_slm.service.broker import free_port


def registries() -> Registries:
    return Registries(**json.loads((DATA / "ha-registries.json").read_text()))


def test_only_entities_exposed_to_assist_with_areas_floors_and_aliases() -> None:
    home = home_data(registries())
    entities = {e["entity_id"]: e for e in home["entities"]}
    assert set(entities) == {"light.kitchen_pendant", "light.kitchen_spots", "light.hallway_light",
                             "light.reading_lamp", "switch.aquarium_heater", "cover.office_blinds"}
    assert entities["switch.aquarium_heater"] == {"entity_id": "switch.aquarium_heater", "name": "Aquarium Heater",
                                                  "aliases": ["fish tank heater"], "area": "kitchen"}
    # Its user replaced the name with an alias: Home Assistant answers only to that now.
    assert entities["light.reading_lamp"]["name"] == "desk light"
    assert entities["cover.office_blinds"]["device_class"] == "blind"
    areas = {a["id"]: a for a in home["areas"]}
    assert areas["office"] == {"id": "office", "name": "Office", "floor": "upstairs", "aliases": ["study"]}
    assert {f["id"] for f in home["floors"]} == {"ground_floor", "upstairs"}


def test_all_takes_entities_not_exposed_too() -> None:
    everything = {e["entity_id"] for e in home_data(registries(), exposed_only=False)["entities"]}
    assert {"switch.coffee_machine", "input_boolean.kitchen_pendant_state", "person.owner"} <= everything


def test_entities_no_assistant_has_asked_about_follow_home_assistants_defaults() -> None:
    data = registries()
    # As on a Home Assistant where nothing has asked yet: no list entry, no setting.
    data.exposed = {}
    for entry in data.entities:
        entry.get("options", {}).pop("conversation", None)
    ids = {e["entity_id"] for e in home_data(data)["entities"]}
    assert {"light.kitchen_pendant", "switch.coffee_machine", "cover.office_blinds"} <= ids
    assert not any(i.startswith(("input_boolean.", "sensor.backup", "person.")) for i in ids)


def test_an_explicit_no_is_kept() -> None:
    data = registries()
    data.exposed.pop("light.hallway_light")
    for entry in data.entities:
        if entry["entity_id"] == "light.hallway_light":
            entry.setdefault("options", {})["conversation"] = {"should_expose": False}
    assert "light.hallway_light" not in {e["entity_id"] for e in home_data(data)["entities"]}


@pytest.mark.parametrize(("url", "ws"), [
    ("http://homeassistant.local:8123", "ws://homeassistant.local:8123/api/websocket"),
    ("https://ha.example.org/", "wss://ha.example.org/api/websocket"),
    ("192.168.1.5:8123", "ws://192.168.1.5:8123/api/websocket"),
    ("ws://10.0.0.2:8123/api/websocket", "ws://10.0.0.2:8123/api/websocket"),
])
def test_urls(url: str, ws: str) -> None:
    assert websocket_url(url) == ws


def test_a_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(ImportFailed, match="not a Home Assistant URL"):
        websocket_url("ftp://x")


def _import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_slm", "home", "import", *args], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


def test_nothing_listening_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc")
    out = tmp_path / "home.yaml"
    result = _import(tmp_path, "--url", f"http://127.0.0.1:{free_port()}", "--token-file", str(token),
                     "--out", str(out), "--timeout", "3")
    assert result.returncode == 1 and "cannot connect" in result.stderr
    assert not out.exists()


def test_an_empty_or_missing_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    result = _import(tmp_path, "--url", "http://127.0.0.1:1", "--token-file", str(tmp_path / "empty"), "--out", "-")
    assert result.returncode == 2 and "is empty" in result.stderr
    result = _import(tmp_path, "--url", "http://127.0.0.1:1", "--token-file", str(tmp_path / "nope"), "--out", "-")
    assert result.returncode == 2 and "cannot read the token file" in result.stderr


def test_devices_placed_in_an_area_are_written_with_their_satellite() -> None:
    # A voice satellite in the kitchen, as Home Assistant's registries list it: the device (with
    # its area) and its assist_satellite entity (no area of its own, not exposed to Assist).
    recorded = registries()
    satellite = {"id": "5f1e0c0ffee", "area_id": "kitchen", "name": "Voice PE", "name_by_user": "Kitchen Voice",
                 "disabled_by": None}
    unplaced = {"id": "0ddba11", "area_id": None, "name": "Somewhere", "name_by_user": None, "disabled_by": None}
    entity = {"entity_id": "assist_satellite.kitchen_voice", "device_id": "5f1e0c0ffee", "area_id": None,
              "options": {"conversation": {"should_expose": False}}, "aliases": [None]}
    registries_with = Registries(floors=recorded.floors, areas=recorded.areas,
                                 devices=recorded.devices + [satellite, unplaced],
                                 entities=recorded.entities + [entity], states=recorded.states,
                                 exposed=recorded.exposed)
    data = home_data(registries_with)
    assert {"id": "5f1e0c0ffee", "name": "Kitchen Voice", "area": "kitchen",
            "satellite": "assist_satellite.kitchen_voice"} in data["devices"]
    assert all(d["id"] != "0ddba11" for d in data["devices"])
    from edge_slm.home.model import parse_home

    home = parse_home(data, "imported")
    assert home.area_of_device("5f1e0c0ffee").id == "kitchen"
    assert home.area_of_device(None, "assist_satellite.kitchen_voice").id == "kitchen"
    assert home.area_of_device("0ddba11") is None


def test_a_device_in_an_area_the_home_does_not_have_is_refused_with_its_line() -> None:
    from edge_slm.home.model import HomeError, parse_home

    with pytest.raises(HomeError, match="area 'attic' of device d1"):
        parse_home({"areas": [{"id": "kitchen", "name": "Kitchen"}],
                    "devices": [{"id": "d1", "area": "attic", "__line__": 3}]}, "home.yaml")
