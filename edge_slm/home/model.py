"""The home description: floors, areas and entities, one YAML file (docs/DESIGN.md).

```yaml
floors: [{id: ground, name: Ground floor, aliases: [downstairs]}]
areas:  [{id: kitchen, name: Kitchen, floor: ground, aliases: [cooking area]}]
entities:
  - {entity_id: light.porch, name: Porch Light, aliases: [front light], area: porch}
  - {entity_id: cover.garage_door, name: Garage Door, area: garage, device_class: garage}
```

``domain`` defaults to the part of ``entity_id`` before the dot.  Every error names the file
and the line, so ``edge-slm home check`` points at what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_slm.errors import EdgeSlmError, ErrorCode



class HomeError(EdgeSlmError):
    """A home description that cannot be used; the message names the file and line."""

    default_code = ErrorCode.CONFIG_INVALID


@dataclass(frozen=True)
class Floor:
    id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    floor: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    entity_id: str
    name: str
    domain: str
    area: str | None = None
    aliases: tuple[str, ...] = ()
    device_class: str | None = None


@dataclass(frozen=True)
class Device:
    """A device placed in an area: where a satellite (or any device a command comes from) stands.
    ``satellite``: its Assist satellite entity, which Home Assistant names beside the device."""

    id: str
    area: str
    name: str = ""
    satellite: str | None = None


@dataclass(frozen=True)
class Home:
    floors: tuple[Floor, ...] = ()
    areas: tuple[Area, ...] = ()
    entities: tuple[Entity, ...] = ()
    source: str = "<empty>"
    by_area: dict[str, tuple[Entity, ...]] = field(default_factory=dict, compare=False, repr=False)
    devices: tuple[Device, ...] = ()

    def area_of_device(self, device_id: str | None = None, satellite_id: str | None = None) -> Area | None:
        """The area of the device (or satellite entity) a command came from; None when unknown."""
        for device in self.devices:
            if device_id and device.id == device_id or satellite_id and device.satellite == satellite_id:
                return self.area(device.area)
        return None

    def area(self, area_id: str | None) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def floor(self, floor_id: str | None) -> Floor | None:
        return next((f for f in self.floors if f.id == floor_id), None)


def _loader() -> type:
    import yaml

    class LineLoader(yaml.SafeLoader):
        """Keeps each mapping's line, so errors can say where."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[str, Any]:
        mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


_FIELDS = {
    "floors": {"id", "name", "aliases"},
    "areas": {"id", "name", "floor", "aliases"},
    "entities": {"entity_id", "name", "aliases", "area", "domain", "device_class"},
    "devices": {"id", "name", "area", "satellite"},
}


def _text(item: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HomeError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _aliases(item: dict[str, Any], where: str) -> tuple[str, ...]:
    value = item.get("aliases", [])
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise HomeError(f"{where}: 'aliases' must be a list of names")
    return tuple(a.strip() for a in value)


def parse_home(data: Any, source: str) -> Home:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise HomeError(f"{source}: must be a mapping with floors, areas and entities")
    unknown = sorted(set(data) - set(_FIELDS) - {"__line__"})
    if unknown:
        raise HomeError(f"{source}:{data.get('__line__', 1)}: unknown section(s) {', '.join(unknown)}")
    tables: dict[str, list[dict[str, Any]]] = {}
    for section, allowed in _FIELDS.items():
        items = data.get(section, []) or []
        if not isinstance(items, list):
            raise HomeError(f"{source}: '{section}' must be a list")
        for item in items:
            where = f"{source}:{item.get('__line__', '?') if isinstance(item, dict) else '?'}"
            if not isinstance(item, dict):
                raise HomeError(f"{where}: each entry of '{section}' must be a mapping")
            extra = sorted(set(item) - allowed - {"__line__"})
            if extra:
                raise HomeError(f"{where}: unknown key(s) {', '.join(extra)} in {section} (allowed: "
                                f"{', '.join(sorted(allowed))})")
        tables[section] = items
    floors = []
    for f in tables["floors"]:
        where = f"{source}:{f.get('__line__', '?')}"
        floors.append(Floor(_text(f, "id", where) or "", _text(f, "name", where) or "", _aliases(f, where)))
    floor_ids = {f.id for f in floors}
    areas = []
    for a in tables["areas"]:
        where = f"{source}:{a.get('__line__', '?')}"
        floor = _text(a, "floor", where, required=False)
        if floor is not None and floor not in floor_ids:
            raise HomeError(f"{where}: area floor '{floor}' is not one of the floors ({', '.join(sorted(floor_ids))})")
        areas.append(Area(_text(a, "id", where) or "", _text(a, "name", where) or "", floor, _aliases(a, where)))
    area_ids = {a.id for a in areas}
    entities = []
    seen: set[str] = set()
    for e in tables["entities"]:
        where = f"{source}:{e.get('__line__', '?')}"
        entity_id = _text(e, "entity_id", where) or ""
        if "." not in entity_id:
            raise HomeError(f"{where}: entity_id '{entity_id}' must be domain.object_id (like light.porch)")
        if entity_id in seen:
            raise HomeError(f"{where}: entity_id '{entity_id}' appears twice")
        seen.add(entity_id)
        area = _text(e, "area", where, required=False)
        if area is not None and area not in area_ids:
            raise HomeError(f"{where}: area '{area}' of {entity_id} is not one of the areas")
        domain = _text(e, "domain", where, required=False) or entity_id.split(".", 1)[0]
        entities.append(Entity(entity_id, _text(e, "name", where) or "", domain, area, _aliases(e, where),
                               _text(e, "device_class", where, required=False)))
    devices = []
    for d in tables["devices"]:
        where = f"{source}:{d.get('__line__', '?')}"
        area = _text(d, "area", where) or ""
        if area not in area_ids:
            raise HomeError(f"{where}: area '{area}' of device {d.get('id')} is not one of the areas")
        devices.append(Device(_text(d, "id", where) or "", area, _text(d, "name", where, required=False) or "",
                              _text(d, "satellite", where, required=False)))
    for kind, ids in (("floor", [f.id for f in floors]), ("area", [a.id for a in areas]),
                      ("device", [d.id for d in devices])):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise HomeError(f"{source}: {kind} id(s) {', '.join(duplicates)} appear twice")
    by_area: dict[str, list[Entity]] = {}
    for entity in entities:
        if entity.area:
            by_area.setdefault(entity.area, []).append(entity)
    return Home(tuple(floors), tuple(areas), tuple(entities), source, {k: tuple(v) for k, v in by_area.items()},
                tuple(devices))


def load_home(path: str | Path) -> Home:
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise HomeError(f"{source}: not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise HomeError(f"{source}: cannot be read ({exc})") from exc
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise HomeError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    return parse_home(data, source)


@dataclass(frozen=True)
class Target:
    entity_id: str
    name: str
    area: str | None
    domain: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"entity_id": self.entity_id, "name": self.name, "area": self.area, "domain": self.domain,
                "score": self.score}


@dataclass(frozen=True)
class Resolution:
    targets: tuple[Target, ...] = ()
    area: Area | None = None
    floor: Floor | None = None
    domains: frozenset[str] = frozenset()
    unresolved: tuple[str, ...] = ()  # slot names whose text matched nothing in the home
    needs_target: bool = False  # an action with nothing to act on

    @property
    def name(self) -> str | None:
        """The one resolved device's own name, for the response ("Turned off the Porch Light")."""
        return self.targets[0].name if len(self.targets) == 1 else None
