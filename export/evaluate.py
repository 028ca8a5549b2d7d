"""Score models on labelled examples with the real runtime's decoding."""

from __future__ import annotations

import numpy as np
import torch

from edge_slm.decode import BioViterbi, intent_tag_masks, softmax, split_words, tags_to_spans
from edge_slm.metrics import Scores, agreement
from edge_slm.nlu import Engine

from .data import Example
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
    """Same decoding as the runtime (argmax intent, BIO Viterbi over first sub-tokens, the
    intent's own slot types)."""
    model.eval()
    decode_tags = BioViterbi(tags)
    masks = intent_tag_masks(tags, intent_slots)
    scores = Scores()
    index = 0
    with torch.no_grad():
        for batch in batches(features, 64, None):
            intent_logits, slot_logits = model(batch.input_ids, batch.attention_mask)
            for row in range(batch.input_ids.shape[0]):
                example = examples[index]
                index += 1
                intent = intents[int(intent_logits[row].argmax())]
                positions = (batch.tags[row] >= 0).nonzero().flatten().tolist()
                words = split_words(example.text)
                probs = softmax(slot_logits[row, positions].numpy())
                path = decode_tags(np.log(probs + 1e-9), masks.get(intent))
                pred_slots = []
                if intent != out_of_scope:
                    for span in tags_to_spans(tags, path, probs):
                        first, last = words[span.first_word], words[span.last_word]
                        pred_slots.append((span.name, example.text[first.start:last.end]))
                scores.add(example.intent, intent, example.slot_values(), pred_slots)
    return scores


__all__ = ["score_engine", "score_torch", "agreement"]
