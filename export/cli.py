"""``edge-slm-export build RECIPE.toml --out DIR``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_slm.engine.labelled import DataError

from .recipe import RecipeError, load_recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-slm-export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="train, export, quantize, check and write a bundle")
    build_cmd.add_argument("recipe", type=Path)
    build_cmd.add_argument("--out", type=Path, required=True)
    build_cmd.add_argument("--threads", type=int, default=2)
    build_cmd.add_argument("--cache", type=Path, default=None,
                           help="keep trained teacher and student here and reuse them when nothing "
                                "that decides them changed")
    build_cmd.add_argument("--sign", type=Path, default=None, metavar="KEY",
                           help="sign the manifest with this ed25519 private key (PEM; see 'keygen')")
    keygen_cmd = sub.add_parser("keygen", help="make an ed25519 key pair for signing bundles")
    keygen_cmd.add_argument("--out", type=Path, required=True, help="folder for signing.key and signing.pub")
    sign_cmd = sub.add_parser("sign", help="sign an existing bundle directory (after checking it)")
    sign_cmd.add_argument("bundle", type=Path)
    sign_cmd.add_argument("--key", type=Path, required=True)
    check_cmd = sub.add_parser("check", help="validate a recipe and its data without training")
    check_cmd.add_argument("recipe", type=Path)
    for cmd in (build_cmd, check_cmd):
        cmd.add_argument("--data", type=Path, default=None, metavar="DIR",
                         help="the data set folder that the recipe's {data} paths refer to (e.g. SNIPS)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command in ("keygen", "sign"):
        return _keys(args)
    try:
        recipe = load_recipe(args.recipe, args.data)
        from .build import (  # torch loads only past validation
            EvalFloorError,
            ParityError,
            build,
            load_dataset,
        )
        from .responses import build_responses

        if args.command == "check":
            data = load_dataset(recipe)
            build_responses(recipe.responses, data.intents, data.slots)
            _print_check(data)
            return 0
        try:
            if args.sign is not None and not args.sign.is_file():
                print(f"error: signing key {args.sign} not found", file=sys.stderr)
                return 2
            out = build(recipe, args.out, threads=args.threads, cache=args.cache, sign_key=args.sign)
        except (ParityError, EvalFloorError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        print(f"bundle written: {out}")
        return 0
    except (RecipeError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _keys(args: argparse.Namespace) -> int:
    from edge_slm.engine.bundle import BundleError, load_bundle
    from edge_slm.engine.signing import SignatureError, key_id, public_key_bytes

    from .bundle_writer import sign_bundle

    try:
        if args.command == "keygen":
            from edge_slm.engine.signing import generate

            private, public = generate(args.out)
            raw = public_key_bytes(str(public))
            print(f"private key: {private} (keep it off the devices)\npublic key:  {public} "
                  f"(key id {key_id(raw)}; put its text in [model] trusted_keys)")
            return 0
        load_bundle(args.bundle)  # never sign what does not verify
        sign_bundle(args.bundle, args.key)
        print(f"signed: {args.bundle}")
        return 0
    except FileExistsError as exc:
        print(f"error: {exc.filename} exists; not overwritten", file=sys.stderr)
    except (BundleError, SignatureError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2


def _print_check(data) -> None:  # noqa: ANN001 - export.build.Dataset (torch-free import kept lazy)
    from collections import Counter

    train = Counter(e.intent for e in data.train)
    evals = Counter(e.intent for part in data.eval.values() for e in part)
    slots = Counter(name for e in data.train for name, _, _ in e.spans)
    width = max(len(i) for i in data.intents)
    print(f"{'intent':<{width}}  train   eval")
    for intent in data.intents:
        print(f"{intent:<{width}}  {train[intent]:>5}  {evals[intent]:>5}")
    print("slots: " + ", ".join(f"{name} {count}" for name, count in sorted(slots.items())))
    if data.numeric_slots:
        print("numeric slots (values given to hubs as numbers): " + ", ".join(data.numeric_slots))
    print(f"ok: {len(data.train)} train examples, {len(data.intents)} intents, {len(data.slots)} slot types")
