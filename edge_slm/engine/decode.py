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
    """Best tag path under BIO constraints, in O(tags) per word.

    Two rules: an I- tag only continues its own slot (I-x after B-x or I-x), and a slot never
    starts right where one of its own type ends (no B-x after B-x or I-x). The second holds in
    the training data (3 of 13,084 SNIPS sentences, none of the home ones): two values of one
    slot need a word between them ("kitchen and bedroom"). Without it the slot head splits
    long names ("a j pero" as artists "a" + "j pero"). Each step then needs the best and
    second-best slot (or O) to come from, not a pairwise maximum.
    """

    def __init__(self, tags: list[str]) -> None:
        index = {tag: i for i, tag in enumerate(tags)}
        slots = [t[2:] for t in tags if t.startswith("B-")]
        self.size = len(tags)
        self.outside = index["O"]
        self.begin = np.array([index["B-" + slot] for slot in slots], dtype=np.int64)
        self.inside = np.array([index["I-" + slot] for slot in slots], dtype=np.int64)
        # Each slot's position among the per-step candidates (0 is O).
        self._candidate = np.arange(1, len(slots) + 1)
        self._slot: list[str | None] = [t[2:] if t != "O" else None for t in tags]
        self._inside = [t.startswith("I-") for t in tags]

    def valid(self, path: list[int]) -> bool:
        previous: str | None = None
        for tag in path:
            slot = self._slot[tag]
            if slot is not None and (slot == previous) != self._inside[tag]:
                return False
            previous = slot
        return True

    def __call__(self, log_probs: np.ndarray, allowed: np.ndarray | None = None) -> list[int]:
        """``allowed``: a boolean per tag; the others are never chosen (see ``intent_tag_masks``)."""
        steps = log_probs.shape[0]
        if steps == 0:
            return []
        if allowed is not None:
            log_probs = np.where(allowed, log_probs, -np.inf)
        # The unconstrained best path is the constrained best whenever it obeys the rules, which
        # a trained model's output nearly always does: the dynamic programme is then not needed.
        greedy: list[int] = log_probs.argmax(axis=1).tolist()
        if self.valid(greedy) or not self.begin.size:
            return greedy
        score = log_probs[0].astype(np.float64).copy()
        score[self.inside] = -np.inf
        back = np.zeros((steps, self.size), dtype=np.int64)
        for t in range(1, steps):
            # Per slot, the best way to be in it (B- or I-); candidate 0 is O.
            from_begin = score[self.begin] >= score[self.inside]
            best = np.concatenate(([score[self.outside]], np.where(from_begin, score[self.begin],
                                                                   score[self.inside])))
            where = np.concatenate(([self.outside], np.where(from_begin, self.begin, self.inside)))
            first, second = np.argsort(-best, kind="stable")[:2]
            new = np.empty(self.size)
            new[self.outside], back[t, self.outside] = best[first], where[first]
            new[self.inside], back[t, self.inside] = best[1:], where[1:]
            source = np.where(self._candidate == first, second, first)
            new[self.begin], back[t, self.begin] = best[source], where[source]
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
