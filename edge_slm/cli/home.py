"""``edge-slm home check FILE``: validate a home description and show what resolves to what."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def cmd_home(args: argparse.Namespace) -> int:
    from edge_slm.home.model import HomeError, load_home

    try:
        home = load_home(args.file)
    except HomeError as exc:
        print(f"edge-slm home: {exc}", file=sys.stderr)
        return 2
    except ImportError:
        print("edge-slm home: needs PyYAML and rapidfuzz (pip install 'edge-slm[home]')", file=sys.stderr)
        return 2
    domains: dict[str, int] = {}
    for entity in home.entities:
        domains[entity.domain] = domains.get(entity.domain, 0) + 1
    unplaced = [e.entity_id for e in home.entities if e.area is None]
    print(f"ok: {len(home.floors)} floors, {len(home.areas)} areas, {len(home.entities)} entities "
          f"({', '.join(f'{d} {n}' for d, n in sorted(domains.items()))})")
    if unplaced:
        print(f"note: {len(unplaced)} entities have no area (only their names reach them): "
              + ", ".join(unplaced[:10]) + (" ..." if len(unplaced) > 10 else ""))
    for text in args.try_ or []:
        print(_try(home, text, args))
    return 0


def _try(home: Any, text: str, args: argparse.Namespace) -> str:
    import json

    from edge_slm.engine.nlu import Engine
    from edge_slm.home.resolve import Resolver

    engine = Engine.load(args.bundle, threads=1)
    parse = engine.parse(text)
    resolution = Resolver(home).resolve(parse, args.site_area or None)
    return json.dumps({"text": text, "intent": parse.intent if parse.recognized else None,
                       "targets": [t.entity_id for t in resolution.targets],
                       "area": resolution.area.id if resolution.area else None,
                       "unresolved": list(resolution.unresolved), "needs_target": resolution.needs_target})


def register(sub: Any, commands: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    p = sub.add_parser("home", help="the home description: check a file (and try commands against it)")
    actions = p.add_subparsers(dest="home_command", required=True)
    check = actions.add_parser("check", help="validate a home description YAML; errors name the line")
    check.add_argument("file")
    check.add_argument("--try", dest="try_", action="append", metavar="TEXT",
                       help="also parse TEXT and show the entities it resolves to (repeatable)")
    check.add_argument("--site-area", default="", help="the area of the device hearing --try commands")
    check.add_argument("--bundle", default=None)
    commands["home"] = cmd_home
