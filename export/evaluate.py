"""Score models on labelled examples with the real runtime's decoding."""

from __future__ import annotations

import torch

from edge_slm.engine.decode import split_words
from edge_slm.engine.labelled import Example
from edge_slm.engine.metrics import Scores, agreement
from edge_slm.engine.nlu import DEFAULT_THRESHOLD, Decoder, Engine

from .features import Feature, batches
from .model import JointModel


def score_engine(engine: Engine, examples: list[Example], batch: int = 64) -> tuple[Scores, list[str]]:
    scores = Scores()
    predicted: list[str] = []
    for start in range(0, len(examples), batch):
        chunk = examples[start:start + batch]
        for example, parse in zip(chunk, engine.parse_batch([e.text for e in chunk])):
            predicted.append(parse.intent)
            pred_intent = parse.intent if parse.recognized else engine.manifest.out_of_scope
            scores.add(example.intent, pred_intent, example.slot_values(),
                       [(s.name, s.raw) for s in parse.slots])
    return scores, predicted


def family_scores(engine: Engine, examples: list[Example]) -> dict[str, Scores]:
    """Scores per family of an eval set (examples without one count under "")."""
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.family, []).append(example)
    return {family: score_engine(engine, part)[0] for family, part in sorted(groups.items())}


def below_floor(name: str, overall: Scores, families: dict[str, Scores],
                min_accuracy: float, min_family_accuracy: float) -> list[str]:
    """What falls under an eval source's floors, one line each (empty: the bundle may be written)."""
    failures = []
    if overall.intent_accuracy < min_accuracy:
        failures.append(f"{name}: intent accuracy {overall.intent_accuracy:.1f}% < {min_accuracy:g}%")
    for family, scores in families.items():
        if family and scores.intent_accuracy < min_family_accuracy:
            failures.append(f"{name}/{family}: intent accuracy {scores.intent_accuracy:.1f}% "
                            f"({scores.intent_correct}/{scores.total}) < {min_family_accuracy:g}%")
    return failures


def score_torch(model: JointModel, examples: list[Example], features: list[Feature],
                intents: list[str], tags: list[str], out_of_scope: str | None,
                intent_slots: dict[str, list[str]]) -> Scores:
    """Scored with the runtime's own ``Decoder``: the same threshold, out-of-scope rule, BIO Viterbi
    and per-intent slot types as the device, so every row of the manifest follows one set of rules."""
    model.eval()
    decoder = Decoder(intents, tags, out_of_scope, DEFAULT_THRESHOLD, intent_slots)
    scores = Scores()
    index = 0
    with torch.no_grad():
        for batch in batches(features, 64, None):
            intent_logits, slot_logits = model(batch.input_ids, batch.attention_mask)
            for row in range(batch.input_ids.shape[0]):
                example = examples[index]
                index += 1
                words = split_words(example.text)
                positions = (batch.tags[row] >= 0).nonzero().flatten().tolist()
                first_tokens = positions + [-1] * (len(words) - len(positions))
                intent, _, recognized, slots = decoder(example.text, words, first_tokens,
                                                       intent_logits[row].numpy(), slot_logits[row].numpy())
                predicted = intent if recognized else out_of_scope
                scores.add(example.intent, predicted, example.slot_values(), [(s.name, s.raw) for s in slots])
    return scores


__all__ = ["score_engine", "score_torch", "family_scores", "below_floor", "agreement"]
