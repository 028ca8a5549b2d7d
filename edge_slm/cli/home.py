"""``edge-slm home check FILE``: validate a home description and show what resolves to what."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def _run(args: argparse.Namespace) -> int:
    """Every home command needs the home extra: said in one line when it is missing."""
    from edge_slm.errors import MissingExtra, require_extra

    try:
        for module in ("rapidfuzz", "yaml", "websockets"):
            require_extra("home", module)
    except MissingExtra as exc:
        print(f"edge-slm home: {exc}", file=sys.stderr)
        return 2
    return args.home_run(args)


def cmd_home(args: argparse.Namespace) -> int:
    from edge_slm.home.model import HomeError, load_home

    try:
        home = load_home(args.file)
    except HomeError as exc:
        print(f"edge-slm home: {exc}", file=sys.stderr)
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
    if args.try_:
        understander = _understander(args)
        for text in args.try_:
            print(_try(understander, text))
    return 0


def _understander(args: argparse.Namespace, action_threshold: float = 0.8):  # noqa: ANN202 - deferred import
    """The daemon's understanding (``Understander``) of commands said in ``--site-area``, with this home."""
    from edge_slm.engine.nlu import Engine
    from edge_slm.service.homefile import HomeFile
    from edge_slm.service.understand import Understander

    return Understander(Engine.load(args.bundle, threads=1), HomeFile(args.file), site_area=args.site_area,
                        action_threshold=action_threshold)


def _try(understander: Any, text: str) -> str:
    """One line per command: what the daemon would publish for each of its actions."""
    import json

    from edge_slm.errors import RefusedInput

    try:
        decisions = understander.understand(text)
    except RefusedInput as exc:
        return json.dumps({"text": text, "error": {"code": str(exc.code), "message": exc.message}})
    actions = []
    for d in decisions:
        resolution = d.resolution
        actions.append({"intent": d.parse.intent if d.recognized else None, "best": d.parse.intent,
                        "targets": [t.entity_id for t in resolution.targets] if resolution else [],
                        "area": resolution.area.id if resolution and resolution.area else None,
                        "unresolved": list(resolution.unresolved) if resolution else [],
                        "reason": str(d.reason) if d.reason else None, "response": d.parse.response})
    return json.dumps({"text": text, "actions": actions})


def cmd_home_eval(args: argparse.Namespace) -> int:
    """Scored as a hub would see it: a command is right when exactly what it asked for is published
    (the intent and the same set of entities), and a command naming nothing is never published."""
    import json
    from pathlib import Path

    understander = _understander(args, args.action_threshold)
    actions = understander.engine.actions
    right = total = untargeted = refused_ok = refused_total = 0
    misses: list[str] = []
    for line in Path(args.data).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        published = []
        for decision in understander.understand(case["text"]):
            if decision.recognized:
                resolution = decision.resolution
                targets = sorted(t.entity_id for t in resolution.targets) if resolution else []
                published.append((decision.parse.intent, targets))
                untargeted += decision.parse.intent in actions and not targets
        if case.get("needs_target"):
            refused_total += 1
            ok = not any(intent in actions for intent, _ in published)
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
    commands["home"] = _run
