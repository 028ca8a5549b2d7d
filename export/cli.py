"""``edge-slm-export build RECIPE.toml --out DIR``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .data import DataError
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
    check_cmd = sub.add_parser("check", help="validate a recipe and its data without training")
    check_cmd.add_argument("recipe", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        recipe = load_recipe(args.recipe)
        from .build import ParityError, build, load_dataset  # torch loads only past validation

        if args.command == "check":
            data = load_dataset(recipe)
            print(f"ok: {len(data.train)} train examples, {len(data.intents)} intents, "
                  f"{len(data.slots)} slot types")
            return 0
        try:
            out = build(recipe, args.out, threads=args.threads, cache=args.cache)
        except ParityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        print(f"bundle written: {out}")
        return 0
    except (RecipeError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
