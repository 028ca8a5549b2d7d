"""The whole export: recipe in, verified bundle out."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from edge_slm import BUNDLE_FORMAT, __version__
from edge_slm.engine.bundle import Bundle, Manifest
from edge_slm.engine.decode import bio_tags
from edge_slm.engine.labelled import DataError, Example, read_jsonl
from edge_slm.engine.metrics import agreement
from edge_slm.engine.nlu import LEGACY_ACTIONS, Engine
from edge_slm.engine.numbers import words_to_number

from .bundle_writer import publish, sign_bundle, staging_dir, write_manifest
from .checkpoints import CheckpointCache, training_key
from .data import read_slurp, read_snips, relabel
from .distill import DistillSettings, distill
from .evaluate import below_floor, family_scores, score_engine, score_torch
from .features import featurize
from .model import JointModel
from .onnx_export import INPUTS, export_onnx
from .quantize import QuantizeSettings, quantize
from .recipe import Recipe, Source
from .responses import build_responses
from .templates import TemplateSampler
from .train import TrainSettings, train_teacher
from .vocab import trim_vocabulary

log = logging.getLogger("export.build")


class ParityError(RuntimeError):
    """int8 lost too much against fp32; no bundle is written."""


class EvalFloorError(RuntimeError):
    """The int8 model fell under an eval source's floor (``min_accuracy``); no bundle is written."""


def _hash_path(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def read_source(source: Source, recipe: Recipe) -> list[Example]:
    if not source.path.exists():
        raise DataError(f"{source.path}: not found")
    if source.kind == "jsonl":
        examples = list(read_jsonl(source.path))
    elif source.kind == "snips":
        examples = list(read_snips(source.path))
    elif source.kind == "slurp":
        examples = list(read_slurp(source.path, source.slot_map, source.part))
    else:
        sampler = TemplateSampler.load(source.path, recipe.lists, recipe.seed + source.seed,
                                       source.intents or None)
        examples = sampler.sample(source.samples_per_intent)
    if source.intent_map or source.skip or source.other:
        examples = list(relabel(examples, source.intent_map, source.skip, source.other or None))
    if source.limit and len(examples) > source.limit:
        examples = random.Random(recipe.seed + source.seed).sample(examples, source.limit)
    if not examples:
        raise DataError(f"{source.path}: no examples")
    return examples


@dataclass
class Dataset:
    train: list[Example]
    eval: dict[str, list[Example]]
    intents: list[str]
    slots: list[str]
    hashes: dict[str, str]
    source_intents: dict[str, frozenset[str]]  # training source name -> the intents it holds

    @property
    def tags(self) -> list[str]:
        return bio_tags(self.slots)

    @property
    def numeric_slots(self) -> list[str]:
        """Slot types whose training values are spoken or written numbers ("three days", "21.5"):
        the runtime hands hubs their values as numbers, whatever the recipe calls them."""
        values: dict[str, list[str]] = {}
        for example in self.train:
            for name, start, end in example.spans:
                values.setdefault(name, []).append(example.text[start:end])
        return sorted(name for name, seen in values.items()
                      if len(seen) >= 3 and sum(words_to_number(v) is not None for v in seen) >= 0.9 * len(seen))

    @property
    def intent_slots(self) -> dict[str, list[str]]:
        """The slot names seen with each intent in training."""
        seen: dict[str, set[str]] = {intent: set() for intent in self.intents}
        for example in self.train:
            seen[example.intent].update(name for name, _, _ in example.spans)
        return {intent: sorted(names) for intent, names in seen.items()}

    @property
    def all_eval(self) -> list[Example]:
        return [e for part in self.eval.values() for e in part]


def load_dataset(recipe: Recipe) -> Dataset:
    """Read and check every source before any training starts."""
    train: list[Example] = []
    hashes: dict[str, str] = {}
    source_intents: dict[str, frozenset[str]] = {}
    for source in recipe.train:
        examples = read_source(source, recipe)
        train += examples
        hashes[source.name] = _hash_path(source.path)
        source_intents[source.name] = frozenset(e.intent for e in examples)
    if not train:
        raise DataError(f"{recipe.path}: the training data is empty")
    evals: dict[str, list[Example]] = {}
    for source in recipe.eval:
        evals[source.name] = read_source(source, recipe)
        hashes[source.name] = _hash_path(source.path)
    if not evals:
        rng = random.Random(recipe.seed)
        rng.shuffle(train)
        cut = max(1, len(train) // 10)
        evals["holdout"], train = train[:cut], train[cut:]
    counts = Counter(e.intent for e in train)
    intents = sorted(counts)
    eval_intents = {e.intent for part in evals.values() for e in part}
    missing = sorted(eval_intents - set(intents))
    if missing:
        raise DataError(f"intent(s) with no training examples: {', '.join(missing)}")
    if recipe.out_of_scope and recipe.out_of_scope not in counts:
        raise DataError(f"out-of-scope label '{recipe.out_of_scope}' has no training examples")
    slots = sorted({name for e in train for name, _, _ in e.spans})
    unknown_slots = sorted({n for e in [x for p in evals.values() for x in p] for n, _, _ in e.spans} - set(slots))
    if unknown_slots:
        raise DataError(f"slot(s) in the eval data with no training examples: {', '.join(unknown_slots)}")
    return Dataset(train, evals, intents, slots, hashes, source_intents)


def build(recipe: Recipe, out: Path, threads: int = 2, cache: Path | None = None,
          sign_key: Path | None = None) -> Path:
    started = time.monotonic()
    torch.set_num_threads(threads)
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    data = load_dataset(recipe)
    responses = build_responses(recipe.responses, data.intents, data.slots)  # its errors before any training
    log.info("data", extra={"train": len(data.train), "eval": {k: len(v) for k, v in data.eval.items()},
                            "intents": len(data.intents), "slots": len(data.slots)})
    print(f"data: {len(data.train)} train, " + ", ".join(f"{k} {len(v)}" for k, v in data.eval.items())
          + f" eval; {len(data.intents)} intents, {len(data.slots)} slot types", flush=True)

    staging = staging_dir(out)
    try:
        trimmed, old_ids = trim_vocabulary(recipe.base / "tokenizer.json",
                                           (e.word_tags()[0] for e in data.train),
                                           recipe.vocab_keep_general)
        (staging / "tokenizer.json").write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
        tokenizer = Tokenizer.from_file(str(staging / "tokenizer.json"))
        print(f"vocabulary: {len(old_ids)} of 30522 pieces kept", flush=True)
        train_features = featurize(data.train, tokenizer, data.intents, data.tags, recipe.max_length)
        eval_examples = data.all_eval
        eval_features = featurize(eval_examples, tokenizer, data.intents, data.tags, recipe.max_length)

        teacher = JointModel.from_pretrained(str(recipe.base), old_ids, recipe.max_length,
                                             len(data.intents), len(data.tags))
        checkpoints = CheckpointCache(cache)
        teacher_key = training_key(recipe.base_name, recipe.teacher, data.hashes, old_ids, recipe.max_length,
                                   recipe.seed, data.intents, data.tags, threads)
        teacher, teacher_seconds = checkpoints.trained(
            "teacher", teacher_key, teacher,
            lambda: train_teacher(teacher, train_features, TrainSettings(**recipe.teacher), recipe.seed))
        oos = recipe.out_of_scope or None
        intent_slots = data.intent_slots
        teacher_scores = score_torch(teacher, eval_examples, eval_features, data.intents, data.tags, oos,
                                     intent_slots)
        print(f"teacher fp32: {teacher_scores.summary()}", flush=True)

        student_cfg = dict(recipe.student)
        layers = tuple(student_cfg.pop("layers", (0, 2, 5)))
        temperature = float(student_cfg.pop("temperature", 2.0))
        alpha = float(student_cfg.pop("alpha", 0.5))
        hidden = float(student_cfg.pop("hidden", 0.0))
        student_settings = DistillSettings(layers, temperature, alpha, hidden, TrainSettings(**student_cfg))
        student_key = training_key(teacher_key, student_settings)
        student, student_seconds = checkpoints.trained(
            "student", student_key, teacher.student(list(layers)),
            lambda: distill(teacher, train_features, student_settings, recipe.seed))
        student_scores = score_torch(student, eval_examples, eval_features, data.intents, data.tags, oos,
                                     intent_slots)
        print(f"student fp32 (torch): {student_scores.summary()}", flush=True)

        fp32_path = export_onnx(student, staging / "model_fp32.onnx")
        qsettings = QuantizeSettings(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in recipe.quantize.items()})
        quant_info = quantize(fp32_path, staging / "model.onnx", qsettings,
                              num_heads=student.config.num_attention_heads, hidden_size=student.config.hidden_size)
        (staging / "responses.json").write_text(
            json.dumps(responses, indent=2), encoding="utf-8")
        write_asr_lists(staging, data)
        write_grammar(staging, recipe, data)

        manifest: dict[str, Any] = {
            "format": BUNDLE_FORMAT, "name": recipe.name, "version": recipe.version,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "language": recipe.language, "description": recipe.description,
            "intents": data.intents, "slots": data.slots, "out_of_scope": oos,
            "intent_slots": intent_slots, "numeric_slots": data.numeric_slots,
            "actions": [a for a in (recipe.actions if recipe.actions is not None else sorted(LEGACY_ACTIONS))
                        if a in data.intents],
            "max_length": recipe.max_length, "inputs": INPUTS,
            "quantization": quant_info,
            "runtime": {"min_version": "0.1.0", "built_with": __version__},
        }
        candidate = Bundle(staging, Manifest.from_dict(dict(manifest, files={})))
        fp32_engine = Engine.load(candidate, threads=threads, model_file="model_fp32.onnx", cache_size=0)
        int8_engine = Engine.load(candidate, threads=threads, cache_size=0)
        fp32_scores, fp32_pred = score_engine(fp32_engine, eval_examples)
        int8_scores, int8_pred = score_engine(int8_engine, eval_examples)
        parity = agreement(fp32_pred, int8_pred)
        per_source, per_family, failures = {}, {}, []
        for source in recipe.eval:
            part = data.eval[source.name]
            overall = score_engine(int8_engine, part)[0]
            per_source[source.name] = overall.summary()
            families = family_scores(int8_engine, part)
            if any(families):
                per_family[source.name] = {f: s.summary() for f, s in families.items()}
                print(f"int8 {source.name} per family: " + ", ".join(
                    f"{f} {s.intent_correct}/{s.total}" for f, s in families.items()), flush=True)
            failures += below_floor(source.name, overall, families, source.min_accuracy,
                                    source.min_family_accuracy)
        print(f"student fp32 (onnx): {fp32_scores.summary()}", flush=True)
        print(f"student int8 (onnx): {int8_scores.summary()}; intent agreement {parity:.2f}%", flush=True)
        fp32_size = fp32_path.stat().st_size
        fp32_path.unlink()

        drops = {"intent_accuracy": fp32_scores.intent_accuracy - int8_scores.intent_accuracy,
                 "slot_f1": fp32_scores.f1 - int8_scores.f1}
        worst = max(drops, key=lambda k: drops[k])
        if drops[worst] > qsettings.max_drop:
            raise ParityError(
                f"int8 {worst.replace('_', ' ')} is {drops[worst]:.2f} points under fp32 "
                f"(limit {qsettings.max_drop}); refusing to write the bundle")

        if failures:
            raise EvalFloorError("refusing to write the bundle: " + "; ".join(failures))

        manifest["metrics"] = {
            "eval_examples": len(eval_examples),
            "teacher_fp32": teacher_scores.summary(),
            "student_fp32": fp32_scores.summary(),
            "student_int8": int8_scores.summary(),
            "int8_per_eval_source": per_source,
            "int8_per_family": per_family,
            "parity": {"intent_agreement": round(parity, 2),
                       "drop_points": {k: round(v, 2) for k, v in drops.items()}},
            "parameters": {"teacher": teacher.parameter_count(), "student": student.parameter_count()},
            "sizes": {"student_fp32_onnx": fp32_size,
                      "student_int8_onnx": sum(p.stat().st_size for p in staging.glob("model.onnx*"))},
            "training_seconds": {"teacher": round(teacher_seconds, 1), "student": round(student_seconds, 1),
                                 "total": round(time.monotonic() - started, 1), "threads": threads},
        }
        manifest["source"] = {
            "base_checkpoint": recipe.base_name, "base_license": "Apache-2.0",
            "teacher": f"{recipe.base_name} fine-tuned, {teacher.config.num_hidden_layers} layers",
            "student_layers": list(layers), "vocabulary": len(old_ids),
            "recipe": {"file": recipe.path.name, "sha256": recipe.sha256},
            "data": data.hashes, "licenses": list(recipe.licenses),
        }
        write_manifest(staging, manifest)
        if sign_key is not None:
            sign_bundle(staging, sign_key)
        return publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_grammar(folder: Path, recipe: Recipe, data: Dataset) -> None:
    """``asr/grammar.fsg``: the template sources compiled into the recogniser's word graph
    (export/grammar.py). A bundle with no templates, or none that compile, or whose recipe says
    ``speech_grammar = false``, has none."""
    from .grammar import FsgCompiler, Unsupported

    sources = [s for s in recipe.train if s.kind == "templates"]
    if not sources or not recipe.speech_grammar:
        return
    from .templates import _load_intents

    source = sources[0]  # one grammar; several template folders would need merging
    # An intent also trained from other data is said in ways the grammar does not hold ("kill the
    # lights"): a recogniser must not reject such speech for being outside the grammar.
    said_otherwise = frozenset().union(*(data.source_intents[other.name] for other in recipe.train
                                          if other is not source))
    compiler = FsgCompiler(_load_intents(source.path), recipe.lists)
    try:
        fsg = compiler.compile(list(source.intents) or None, said_otherwise)
    except Unsupported as exc:
        print(f"speech grammar: none ({exc})", flush=True)
        return
    (folder / "asr" / "grammar.fsg").write_text(fsg, encoding="utf-8")
    print(f"speech grammar: {fsg.count('TRANSITION')} transitions; "
          f"{len(compiler.skipped)} templates left to the n-gram model", flush=True)


def write_asr_lists(folder: Path, data: Dataset) -> None:
    """Domain sentences that speech recognisers bias their decoding to (their language model is
    built from them), and the out-of-scope sentences that give speech outside the domain words of
    its own."""
    asr = folder / "asr"
    asr.mkdir()
    other = sorted({" ".join(e.text.lower().split()) for e in data.train if e.intent == "oos"})
    if other:
        (asr / "other.txt").write_text("\n".join(other) + "\n", encoding="utf-8")
    sentences = sorted({" ".join(e.text.lower().split()) for e in data.train
                        if e.intent != "oos"})
    (asr / "sentences.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
