"""From model outputs to words, BIO tags and slot spans (shared by runtime and export)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Words as speech recognisers and people type them; punctuation stands alone.
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int


def split_words(text: str) -> list[Word]:
    return [Word(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]


def bio_tags(slots: list[str]) -> list[str]:
    """The slot head's output order: O, then B-/I- for each slot name."""
    return ["O"] + [f"{prefix}-{slot}" for slot in slots for prefix in ("B", "I")]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


class BioViterbi:
    """Best tag path under BIO constraints (no I- tag without its B-), in O(tags) per word.

    Under BIO, any tag may follow anything except I-x, which only follows B-x or I-x;
    so each step needs one global max and one pairwise max per I- tag.
    """

    def __init__(self, tags: list[str]) -> None:
        index = {tag: i for i, tag in enumerate(tags)}
        self.size = len(tags)
        self.inside = np.array([i for i, t in enumerate(tags) if t.startswith("I-")], dtype=np.int64)
        self.begin = np.array([index["B-" + tags[i][2:]] for i in self.inside], dtype=np.int64)
        # For each I- tag, the slot it continues; None for every other tag.
        self._continues: list[str | None] = [t[2:] if t.startswith("I-") else None for t in tags]
        self._slot: list[str | None] = [t[2:] if t != "O" else None for t in tags]

    def valid(self, path: list[int]) -> bool:
        previous: str | None = None
        for tag in path:
            wanted = self._continues[tag]
            if wanted is not None and wanted != previous:
                return False
            previous = self._slot[tag]
        return True

    def __call__(self, log_probs: np.ndarray, allowed: np.ndarray | None = None) -> list[int]:
        """``allowed``: a boolean per tag; the others are never chosen (see ``intent_tag_masks``)."""
        steps = log_probs.shape[0]
        if steps == 0:
            return []
        if allowed is not None:
            log_probs = np.where(allowed, log_probs, -np.inf)
        # The unconstrained best path is the constrained best whenever it obeys BIO, which a
        # trained model's output nearly always does: the dynamic programme is then not needed.
        greedy: list[int] = log_probs.argmax(axis=1).tolist()
        if self.valid(greedy):
            return greedy
        score = log_probs[0].astype(np.float64).copy()
        score[self.inside] = -np.inf
        back = np.zeros((steps, self.size), dtype=np.int64)
        for t in range(1, steps):
            best = int(score.argmax())
            new = np.full(self.size, score[best])
            back[t] = best
            from_begin = score[self.begin] >= score[self.inside]
            new[self.inside] = np.where(from_begin, score[self.begin], score[self.inside])
            back[t, self.inside] = np.where(from_begin, self.begin, self.inside)
            score = new + log_probs[t]
        path = [int(score.argmax())]
        for t in range(steps - 1, 0, -1):
            path.append(int(back[t, path[-1]]))
        return path[::-1]


def intent_tag_masks(tags: list[str], intent_slots: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per intent, the tags it may use: O and the B-/I- tags of the slots it was trained with.

    The intent head sees the whole sentence; letting it veto slot types the intent never has
    ("artist" in a playlist name for AddToPlaylist, "temperature" in a light command) removes
    a whole class of span-type errors that the per-word slot head makes.
    """
    masks = {}
    for intent, slots in intent_slots.items():
        names = set(slots)
        masks[intent] = np.array([tag == "O" or tag[2:] in names for tag in tags], dtype=bool)
    return masks


@dataclass(frozen=True)
class Span:
    name: str
    first_word: int
    last_word: int  # inclusive
    confidence: float


def tags_to_spans(tags: list[str], path: list[int], probs: np.ndarray) -> list[Span]:
    spans: list[Span] = []
    current: tuple[str, int] | None = None
    for index, tag_id in enumerate(path + [0]):
        tag = tags[tag_id] if index < len(path) else "O"
        if current and not (tag.startswith("I-") and tag[2:] == current[0]):
            name, first = current
            conf = float(sum(probs[i, path[i]] for i in range(first, index)) / (index - first))
            spans.append(Span(name, first, index - 1, conf))
            current = None
        if tag.startswith("B-"):
            current = (tag[2:], index)
    return spans


def word_first_tokens(word_ids: list[int | None], count: int) -> list[int]:
    """Token index of each word's first sub-token; -1 where truncation dropped it."""
    first = [-1] * count
    for token_index, word_id in enumerate(word_ids):
        if word_id is not None and word_id < count and first[word_id] < 0:
            first[word_id] = token_index
    return first
