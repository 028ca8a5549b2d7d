"""Examples to padded tensors: token ids, the first sub-token's tag per word, the intent."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

from edge_slm.engine.labelled import Example

IGNORE = -100


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    intents: torch.Tensor
    tags: torch.Tensor  # IGNORE where no word starts


@dataclass
class Feature:
    ids: list[int]
    tags: list[int]
    intent: int


def featurize(examples: list[Example], tokenizer: Tokenizer, intents: list[str],
              tags: list[str], max_length: int) -> list[Feature]:
    intent_index = {name: i for i, name in enumerate(intents)}
    tag_index = {name: i for i, name in enumerate(tags)}
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    features = []
    for example in examples:
        words, word_tags = example.word_tags()
        encoding = tokenizer.encode(words or ["[UNK]"], is_pretokenized=True)
        labels = [IGNORE] * len(encoding.ids)
        seen: set[int] = set()
        for position, word_id in enumerate(encoding.word_ids):
            if word_id is not None and word_id < len(word_tags) and word_id not in seen:
                seen.add(word_id)
                labels[position] = tag_index[word_tags[word_id]]
        features.append(Feature(encoding.ids, labels, intent_index[example.intent]))
    return features


def batches(features: list[Feature], size: int, rng: random.Random | None) -> list[Batch]:
    order = list(range(len(features)))
    if rng is not None:
        rng.shuffle(order)
    out = []
    for start in range(0, len(order), size):
        chunk = [features[i] for i in order[start:start + size]]
        width = max(len(f.ids) for f in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        for row, f in enumerate(chunk):
            ids[row, :len(f.ids)] = torch.tensor(f.ids)
            mask[row, :len(f.ids)] = 1
            labels[row, :len(f.tags)] = torch.tensor(f.tags)
        out.append(Batch(ids, mask, torch.tensor([f.intent for f in chunk]), labels))
    return out
