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
    from edge_slm.home.mask import HomeParser
    from edge_slm.home.resolve import Resolver

    engine = Engine.load(args.bundle, threads=1)
    resolver = Resolver(home)
    parse = HomeParser(engine, resolver.masker).parse(text)
    resolution = resolver.resolve(parse, args.site_area or None)
    return json.dumps({"text": text, "intent": parse.intent if parse.recognized else None,
                       "targets": [t.entity_id for t in resolution.targets],
                       "area": resolution.area.id if resolution.area else None,
                       "unresolved": list(resolution.unresolved), "needs_target": resolution.needs_target})


def cmd_home_eval(args: argparse.Namespace) -> int:
    """Scored as a hub would see it: a command is right when exactly what it asked for is published
    (the intent and the same set of entities), and a command naming nothing is never published."""
    import json
    from pathlib import Path

    from edge_slm.engine.compound import parse_all
    from edge_slm.engine.nlu import Engine
    from edge_slm.home.mask import HomeParser
    from edge_slm.home.model import ACTION_INTENTS, load_home
    from edge_slm.home.resolve import Resolver
    from edge_slm.service.decide import decide

    engine = Engine.load(args.bundle, threads=1)
    resolver = Resolver(load_home(args.file))
    parser = HomeParser(engine, resolver.masker)
    right = total = untargeted = refused_ok = refused_total = 0
    misses: list[str] = []
    for line in Path(args.data).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        published = []
        for parse in parse_all(parser, case["text"]):
            judged, resolution, _ = decide(parse, engine.responder, resolver, args.site_area or None,
                                           args.action_threshold)
            if judged.recognized:
                targets = sorted(t.entity_id for t in resolution.targets) if resolution else []
                published.append((judged.intent, targets))
                untargeted += judged.intent in ACTION_INTENTS and not targets
        if case.get("needs_target"):
            refused_total += 1
            ok = not any(intent in ACTION_INTENTS for intent, _ in published)
            refused_ok += ok
        else:
            total += 1
            ok = published == [(case["intent"], sorted(case["targets"]))]
            right += ok
        if not ok:
            misses.append(f"  {case['text']!r}: published {published or 'nothing'}")
    print(f"commands with a target: {right}/{total} right ({100 * right / max(total, 1):.1f}%: intent and "
          f"exactly the expected entities)")
    print(f"commands that name nothing: {refused_ok}/{refused_total} not acted on")
    print(f"untargeted actions published: {untargeted}")
    if misses and args.verbose:
        print("misses:\n" + "\n".join(misses))
    return 0


def cmd_home_import(args: argparse.Namespace) -> int:
    """Read the home from Home Assistant's registries, check it as a home file would be, write it."""
    import os
    from pathlib import Path

    from edge_slm.home import hass_import
    from edge_slm.home.model import HomeError, load_home

    try:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"edge-slm home import: cannot read the token file: {exc}", file=sys.stderr)
        return 2
    if not token:
        print(f"edge-slm home import: {args.token_file} is empty", file=sys.stderr)
        return 2
    try:
        registries = hass_import.fetch(args.url, token, timeout=args.timeout)
    except hass_import.ImportFailed as exc:
        print(f"edge-slm home import: {exc}", file=sys.stderr)
        return 1
    except ImportError:
        print("edge-slm home import: needs websockets and PyYAML (pip install 'edge-slm[home]')", file=sys.stderr)
        return 2
    data = hass_import.home_data(registries, exposed_only=not args.all)
    text = hass_import.dump(data, args.url)
    # Checked as the daemon will read it, before it replaces anything; written whole, then renamed,
    # so a daemon watching the file never reads half of it.
    tmp = Path(f"{args.out if args.out != '-' else 'home'}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    try:
        home = load_home(tmp)
    except HomeError as exc:
        tmp.unlink()
        print(f"edge-slm home import: Home Assistant's registries do not make a valid home: {exc}", file=sys.stderr)
        return 1
    if args.out == "-":
        tmp.unlink()
        sys.stdout.write(text)
    else:
        os.replace(tmp, args.out)
    skipped = len(registries.states) - len(home.entities)
    print(f"imported {len(home.floors)} floors, {len(home.areas)} areas, {len(home.entities)} entities"
          + (f" ({skipped} not exposed to Assist left out; --all takes them too)" if skipped and not args.all else "")
          + ("" if args.out == "-" else f" -> {args.out}"), file=sys.stderr)
    return 0


def register(sub: Any, commands: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    p = sub.add_parser("home", help="the home description: check a file (and try commands against it)")
    actions = p.add_subparsers(dest="home_command", required=True)
    check = actions.add_parser("check", help="validate a home description YAML; errors name the line")
    check.add_argument("file")
    check.add_argument("--try", dest="try_", action="append", metavar="TEXT",
                       help="also parse TEXT and show the entities it resolves to (repeatable)")
    check.add_argument("--site-area", default="", help="the area of the device hearing --try commands")
    check.add_argument("--bundle", default=None)
    check.set_defaults(home_run=cmd_home)
    evaluate = actions.add_parser("eval", help="score commands (text, intent, targets) against a home")
    evaluate.add_argument("file", help="home description YAML")
    evaluate.add_argument("--data", required=True, help="JSONL: {text, intent, targets} or {text, needs_target}")
    evaluate.add_argument("--site-area", default="")
    evaluate.add_argument("--action-threshold", type=float, default=0.8)
    evaluate.add_argument("--bundle", default=None)
    evaluate.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    evaluate.set_defaults(home_run=cmd_home_eval)
    imp = actions.add_parser("import", help="write the home description from a running Home Assistant "
                                            "(WebSocket API: floors, areas, devices, entities exposed to Assist)")
    imp.add_argument("--url", required=True, help="Home Assistant's URL, like http://homeassistant.local:8123")
    imp.add_argument("--token-file", required=True,
                     help="a file holding a long-lived access token (never pass tokens on the command line)")
    imp.add_argument("--out", required=True, help="the home YAML to write ('-': standard output)")
    imp.add_argument("--all", action="store_true", help="every entity, not only those exposed to Assist")
    imp.add_argument("--timeout", type=float, default=10.0)
    imp.set_defaults(home_run=cmd_home_import)
    commands["home"] = lambda args: args.home_run(args)
