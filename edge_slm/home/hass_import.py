"""``edge-slm home import``: the home description from a running Home Assistant.

Read over its WebSocket API (``websockets``): the floor, area, device and entity registries, the
states (friendly names, device classes) and which entities are exposed to Assist. Only exposed
entities are written by default: what the user let Assist control is what edge-slm may target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from edge_slm.errors import EdgeSlmError, ErrorCode


class ImportFailed(EdgeSlmError):
    """Home Assistant could not be reached or refused us; the message says which and why."""

    default_code = ErrorCode.CONFIG_INVALID


@dataclass
class Registries:
    """What one import reads, as Home Assistant sent it."""

    floors: list[dict[str, Any]] = field(default_factory=list)
    areas: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)  # extended entries (with aliases)
    states: list[dict[str, Any]] = field(default_factory=list)
    exposed: dict[str, dict[str, bool]] = field(default_factory=dict)


def websocket_url(url: str) -> str:
    """``http://ha.local:8123`` -> ``ws://ha.local:8123/api/websocket`` (ws/wss URLs kept)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ImportFailed(f"'{url}' is not a Home Assistant URL (like http://homeassistant.local:8123)")
    path = parts.path.rstrip("/")
    if not path.endswith("/api/websocket"):
        path += "/api/websocket"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class _Session:
    """One authenticated WebSocket connection; ``call`` sends a command and returns its result."""

    def __init__(self, ws: Any, url: str, token: str, timeout: float) -> None:
        self.ws, self.timeout, self.next_id = ws, timeout, 1
        hello = self._receive()
        if hello.get("type") != "auth_required":
            raise ImportFailed(f"{url} is not Home Assistant's WebSocket API (first message: {hello.get('type')})")
        self.ws.send(json.dumps({"type": "auth", "access_token": token}))
        answer = self._receive()
        if answer.get("type") != "auth_ok":
            raise ImportFailed(f"Home Assistant refused the token ({answer.get('message', answer.get('type'))}); "
                               "create a long-lived access token in your profile and pass its file")

    def _receive(self) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            data = json.loads(self.ws.recv(timeout=self.timeout))
        except TimeoutError:
            raise ImportFailed(f"Home Assistant sent nothing for {self.timeout:g} s") from None
        except (ConnectionClosed, ValueError) as exc:
            raise ImportFailed(f"the connection to Home Assistant ended: {exc}") from None
        return data if isinstance(data, dict) else {}

    def call(self, kind: str, **fields: Any) -> Any:
        ident, self.next_id = self.next_id, self.next_id + 1
        self.ws.send(json.dumps({"id": ident, "type": kind, **fields}))
        while True:
            answer = self._receive()
            if answer.get("id") == ident and answer.get("type") == "result":
                break
        if not answer.get("success"):
            error = answer.get("error") or {}
            raise ImportFailed(f"{kind}: {error.get('code', 'failed')}: {error.get('message', '')}".rstrip(": "))
        return answer.get("result")


def fetch(url: str, token: str, timeout: float = 10.0) -> Registries:
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    address = websocket_url(url)
    try:
        connection = connect(address, open_timeout=timeout, close_timeout=2, max_size=64 << 20)
    except (OSError, TimeoutError) as exc:
        raise ImportFailed(f"cannot connect to {address}: {exc}") from None
    except WebSocketException as exc:  # the handshake was refused (a proxy, a wrong path)
        raise ImportFailed(f"{address} did not accept a WebSocket connection: {exc}") from None
    with connection as ws:
        session = _Session(ws, address, token, timeout)
        try:
            floors = session.call("config/floor_registry/list")
        except ImportFailed as exc:
            if "unknown_command" not in str(exc):
                raise
            floors = []  # Home Assistant before 2024.4 has no floors
        entries = session.call("config/entity_registry/list")
        ids = [e["entity_id"] for e in entries]
        extended = session.call("config/entity_registry/get_entries", entity_ids=ids) if ids else {}
        return Registries(
            floors=floors, areas=session.call("config/area_registry/list"),
            devices=session.call("config/device_registry/list"),
            entities=[e for e in extended.values() if e],
            states=session.call("get_states"),
            exposed=session.call("homeassistant/expose_entity/list").get("exposed_entities", {}))


# Home Assistant decides exposure lazily: an entity no assistant has asked about yet carries no
# setting, and its default follows these (homeassistant/components/homeassistant/exposed_entities.py).
DEFAULT_EXPOSED_DOMAINS = frozenset({"climate", "cover", "fan", "humidifier", "light", "media_player", "scene",
                                     "switch", "todo", "vacuum", "water_heater"})
DEFAULT_EXPOSED_CLASSES = {
    "binary_sensor": frozenset({"door", "garage_door", "lock", "motion", "opening", "presence", "window"}),
    "sensor": frozenset({"aqi", "carbon_monoxide", "carbon_dioxide", "humidity", "pm10", "pm25", "temperature",
                         "volatile_organic_compounds"}),
}


def is_exposed(entity_id: str, registries: Registries, entry: dict[str, Any], device_class: str | None,
               assistant: str = "conversation") -> bool:
    if registries.exposed.get(entity_id, {}).get(assistant):
        return True
    setting = (entry.get("options") or {}).get(assistant, {})
    if "should_expose" in setting or not entry:
        return bool(setting.get("should_expose"))  # decided (False), or not in the registry: never by default
    if entry.get("entity_category") or entry.get("hidden_by"):
        return False
    domain = entity_id.split(".", 1)[0]
    return domain in DEFAULT_EXPOSED_DOMAINS or device_class in DEFAULT_EXPOSED_CLASSES.get(domain, ())


def home_data(registries: Registries, exposed_only: bool = True,
              assistant: str = "conversation") -> dict[str, Any]:
    """The home description (``edge_slm.home.model`` format) from what Home Assistant sent."""
    states = {s["entity_id"]: s for s in registries.states if isinstance(s, dict) and "entity_id" in s}
    devices = {d["id"]: d for d in registries.devices}
    entries = {e["entity_id"]: e for e in registries.entities}
    entities = []
    for eid in sorted(states):
        entry = entries.get(eid, {})
        attributes = states[eid].get("attributes", {})
        device_class = entry.get("device_class") or attributes.get("device_class") or entry.get(
            "original_device_class")
        if entry.get("disabled_by") or exposed_only and not is_exposed(eid, registries, entry, device_class,
                                                                        assistant):
            continue
        name = attributes.get("friendly_name") or entry.get("name") or entry.get("original_name") or eid
        device = devices.get(entry.get("device_id") or "", {})
        area = entry.get("area_id") or device.get("area_id")
        # Home Assistant 2025.11 and later: the entity answers to its aliases, where null stands for
        # its own name. A list without null means the user replaced the name: the first alias is
        # then the name Home Assistant matches, and the one edge-slm must send.
        listed = entry.get("aliases") or []
        aliases = [a.strip() for a in listed if isinstance(a, str) and a.strip()]
        if aliases and None not in listed:
            name, aliases = aliases[0], aliases[1:]
        item: dict[str, Any] = {"entity_id": eid, "name": name}
        if aliases:
            item["aliases"] = sorted(aliases)
        if area:
            item["area"] = area
        if device_class:
            item["device_class"] = device_class
        entities.append(item)
    floors = [{"id": f["floor_id"], "name": f["name"],
               **({"aliases": sorted(f["aliases"])} if f.get("aliases") else {})} for f in registries.floors]
    floor_ids = {f["id"] for f in floors}
    areas = []
    for a in registries.areas:
        item = {"id": a["area_id"], "name": a["name"]}
        if a.get("floor_id") in floor_ids:
            item["floor"] = a["floor_id"]
        if a.get("aliases"):
            item["aliases"] = sorted(a["aliases"])
        areas.append(item)
    # Devices placed in an area, so that a command from a satellite (Home Assistant names its
    # device_id and satellite_id with each sentence) acts in the satellite's room.
    satellites = {e["device_id"]: e["entity_id"] for e in registries.entities
                  if e.get("device_id") and str(e.get("entity_id", "")).startswith("assist_satellite.")}
    area_ids = {a["id"] for a in areas}
    placed = []
    for d in registries.devices:
        if d.get("area_id") in area_ids and not d.get("disabled_by"):
            item = {"id": d["id"], "name": d.get("name_by_user") or d.get("name") or d["id"], "area": d["area_id"]}
            if d["id"] in satellites:
                item["satellite"] = satellites[d["id"]]
            placed.append(item)
    data: dict[str, Any] = {"floors": floors, "areas": areas, "entities": entities}
    if placed:
        data["devices"] = sorted(placed, key=lambda d: (d["area"], d["name"]))
    return data


def dump(data: dict[str, Any], source: str) -> str:
    import yaml

    header = (f"# Home description for edge-slm, imported from {source} by `edge-slm home import`.\n"
              "# Edit freely (aliases help); `edge-slm home check FILE` validates it.\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
