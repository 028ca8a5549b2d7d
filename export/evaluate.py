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


__all__ = ["score_engine", "score_torch", "agreement"]
