"""``edge-slm bench --home``: what resolving a command against the home costs, with 500 entities.

The home is generated (50 areas over 3 floors, 500 entities with made-up names and aliases), the
commands are parsed once beforehand, and only ``Resolver.resolve`` is timed: the figure is what
the home adds to each command, beside the engine's own latency measured in the same run.
"""

from __future__ import annotations

import random
import time
from typing import Any

from edge_slm.bench.load import LoadWatch, note, p50_p99, progress
from edge_slm.engine.nlu import Engine
from edge_slm.home.model import Home, parse_home
from edge_slm.home.mask import HomeParser
from edge_slm.home.resolve import Resolver

_ROOMS = ["kitchen", "living room", "bedroom", "office", "hallway", "garage", "porch", "bathroom", "den", "attic"]
_ADJECTIVES = ["ceiling", "desk", "floor", "reading", "corner", "window", "wall", "accent", "night", "main",
               "back", "front", "side", "upper", "lower", "left", "right", "big", "small", "old"]
_DEVICES = {"light": ["light", "lamp", "spotlight", "strip"], "switch": ["plug", "heater", "kettle", "pump"],
            "fan": ["fan"], "cover": ["blinds", "curtains", "shutter"], "lock": ["lock"]}
COMMANDS = ["turn off the {name}", "switch on the {name}", "turn on the lights in the {area}",
            "open the {cover}", "turn off the {name} please", "turn on the lights", "set the {area} lights to 40 percent",
            "turn off grandma's {device}"]


def make_home(entities: int = 500, areas: int = 50, seed: int = 1) -> Home:
    rng = random.Random(seed)
    floors = [{"id": f"f{i}", "name": name, "__line__": 0} for i, name in enumerate(["Ground", "First", "Second"])]
    names = [f"{side} {room}" for side in ("north", "south", "east", "west", "guest") for room in _ROOMS]
    area_rows = [{"id": f"a{i}", "name": names[i % len(names)], "floor": f"f{i % 3}", "__line__": 0}
                 for i in range(areas)]
    rows = []
    for i in range(entities):
        domain = rng.choice(list(_DEVICES))
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_ADJECTIVES)} {rng.choice(_DEVICES[domain])} {i}"
        rows.append({"entity_id": f"{domain}.e{i}", "name": name.title(), "area": f"a{rng.randrange(areas)}",
                     "aliases": [f"{rng.choice(_ADJECTIVES)} {rng.choice(_DEVICES[domain])} {i}"], "__line__": 0})
    return parse_home({"floors": floors, "areas": area_rows, "entities": rows, "__line__": 0}, "<generated>")


def run_home_bench(bundle: str | None, rounds: int = 20) -> dict[str, Any]:
    watch = LoadWatch().start()
    progress("generating a home of 500 entities and parsing the commands")
    home = make_home()
    resolver = Resolver(home)
    engine = Engine.load(bundle, threads=2, cache_size=0)
    rng = random.Random(2)
    texts = []
    for i in range(50):
        entity = rng.choice(home.entities)
        cover = next(e for e in home.entities if e.domain == "cover")
        texts.append(COMMANDS[i % len(COMMANDS)].format(name=entity.name.lower(), area=rng.choice(home.areas).name,
                                                        cover=cover.name.lower(), device="lamp"))
    parses = [engine.parse(t) for t in texts]
    progress(f"timing resolution and parsing, {rounds} rounds of {len(parses)} commands, interleaved")
    masked = HomeParser(engine, resolver.masker)
    resolve_s: list[float] = []
    find_s: list[float] = []
    parse_s: list[float] = []
    home_parse_s: list[float] = []
    for _ in range(rounds):
        for text, parse in zip(texts, parses):
            start = time.perf_counter()
            resolver.resolve(parse, None)
            resolve_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            resolver.masker.find(parse.text)
            resolver.resolve(parse, None)
            find_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            engine.parse(text)
            parse_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            resolver.resolve(masked.parse(text), None)
            home_parse_s.append(time.perf_counter() - start)
    resolved = sum(bool(resolver.resolve(masked.parse(t), None).targets) for t in texts)
    reparsed = sum(masked.parse(t) != p for t, p in zip(texts, parses))

    return {"entities": len(home.entities), "areas": len(home.areas), "commands": len(parses),
            "resolved": resolved, "reparsed": reparsed, "resolve": p50_p99(resolve_s), "find": p50_p99(find_s),
            "parse": p50_p99(parse_s), "home_parse": p50_p99(home_parse_s), "machine_load": watch.result()}


def home_markdown(result: dict[str, Any]) -> str:
    return (
        f"| step ({result['entities']} entities, {result['areas']} areas, {result['commands']} commands) "
        "| p50 (ms) | p99 (ms) |\n|---|---|---|\n"
        f"| resolution against the home (rapidfuzz) | {result['resolve']['p50_ms']} | {result['resolve']['p99_ms']} |\n"
        f"| finding the home's names in the text + resolution | {result['find']['p50_ms']} | "
        f"{result['find']['p99_ms']} |\n"
        f"| the engine's parse, same run (cache off) | {result['parse']['p50_ms']} | {result['parse']['p99_ms']} |\n"
        f"| parse with the home's names (a second parse when masking helps) + resolution | "
        f"{result['home_parse']['p50_ms']} | {result['home_parse']['p99_ms']} |\n\n"
        f"- {result['resolved']} of {result['commands']} generated commands resolved to at least one entity; "
        f"{result.get('reparsed', 0)} parsed again with their names masked\n"
        + note(result.get("machine_load", {}))
    )
