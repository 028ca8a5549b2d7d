"""Names the model never saw, said in words it knows: the home's device names found in the text are
swapped for a name of the same kind that the model handles well ("turn on the himalayan salt
lamp" is parsed as "turn on the desk lamp"), its area names for a room the model knows ("turn on
the conservatory lights" as "turn on the kitchen lights"), then the slot is given back its own
words.

A model trained on thousands of device names still calls some sentences with an unseen
multi-word name out of scope; the home description says which words are a device, so the
sentence the model is asked about is one it knows. Used only when the text names one of the
home's devices; the plain parse is kept when it already found that name, or when the masked
sentence is not understood either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable

from rapidfuzz import fuzz

from edge_slm.engine.nlu import Parse, Slot, clean_text
from edge_slm.home.model import Entity, Home

if TYPE_CHECKING:
    from edge_slm.engine.nlu import Engine

# Per domain, a name the model labels whole and gets the intent right with in every phrasing we
# tried ("kill the ...", "... on", "power down the ...", "i want the ... on", "stop the ...").
PLACEHOLDERS = {"light": "desk lamp", "switch": "kettle", "fan": "desk fan", "cover": "garage door",
                "media_player": "tv", "lock": "front door lock", "climate": "thermostat",
                "vacuum": "robot vacuum"}
DEFAULT_PLACEHOLDER = "kettle"
# A room every model of this kind has seen in every phrasing; areas are masked at one word too, as
# a room's name is often a single word the model never saw ("conservatory", "orangery", "scullery").
AREA_PLACEHOLDER = "kitchen"
TYPO_CUTOFF = 80.0  # "lanturn" for "lantern", "expresso" for "espresso"
SURE = 0.95  # a plain parse this sure that found every name is kept without asking again
_TOKEN = re.compile(r"[\w']+")


def _norm(token: str) -> str:
    token = token.lower()
    return token[:-2] if token.endswith("'s") else token


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    entity: Entity | None  # None: an area
    placeholder: str


class Masker:
    def __init__(self, home: Home) -> None:
        self._names: list[tuple[tuple[str, ...], Entity | None]] = []
        self._by_token: dict[str, list[int]] = {}
        for entity in home.entities:
            for name in (entity.name, *entity.aliases):
                tokens = tuple(_norm(t) for t in _TOKEN.findall(name))
                # One-word names ("Lamp", "TV") are what the model already knows as words.
                if len(tokens) < 2:
                    continue
                self._names.append((tokens, entity))
        for area in home.areas:
            for name in (area.name, *area.aliases):
                tokens = tuple(_norm(t) for t in _TOKEN.findall(name))
                if tokens:
                    self._names.append((tokens, None))
        # A name is tried where one of its two rarest words was said exactly: "lamp" or "lock", in
        # hundreds of names, never anchors alone, and a typo in one rare word leaves the other.
        counts: dict[str, int] = {}
        for tokens, _ in self._names:
            for token in set(tokens):
                counts[token] = counts.get(token, 0) + 1
        for index, (tokens, _) in enumerate(self._names):
            for token in sorted(set(tokens), key=lambda t: counts[t])[:2]:
                self._by_token.setdefault(token, []).append(index)

    def find(self, text: str) -> list[Hit]:
        """The home's multi-word names in ``text`` (whole words, possessives and small typos
        allowed, at least one word exact), longest first, never overlapping."""
        words = [(m.start(), m.end(), _norm(m.group())) for m in _TOKEN.finditer(text)]
        at_word: dict[str, list[int]] = {}
        for position, (_, _, word) in enumerate(words):
            at_word.setdefault(word, []).append(position)
        # Only alignments anchored on a word said exactly: a name is tried where it can start.
        tries: set[tuple[int, int]] = set()
        for word, positions in at_word.items():
            for index in self._by_token.get(word, ()):
                tokens = self._names[index][0]
                for k, token in enumerate(tokens):
                    if token == word:
                        tries.update((index, p - k) for p in positions
                                     if 0 <= p - k and p - k + len(tokens) <= len(words))
        found: list[tuple[int, int, Entity | None]] = []
        for index, at in tries:
            tokens, entity = self._names[index]
            if all(words[at + k][2] == b or (len(b) >= 5 and fuzz.ratio(words[at + k][2], b) >= TYPO_CUTOFF)
                   for k, b in enumerate(tokens)):
                found.append((at, at + len(tokens), entity))
        hits: list[Hit] = []
        taken: set[int] = set()
        # Longest first, a device before an area of the same length ("kitchen pendant" is a name).
        for at, to, entity in sorted(found, key=lambda f: (f[0] - f[1], f[2] is None, f[0])):
            if taken.isdisjoint(range(at, to)):
                taken.update(range(at, to))
                placeholder = AREA_PLACEHOLDER if entity is None else \
                    PLACEHOLDERS.get(entity.domain, DEFAULT_PLACEHOLDER)
                hits.append(Hit(words[at][0], words[to - 1][1], entity, placeholder))
        return sorted(hits, key=lambda h: h.start)


class HomeParser:
    """``Engine.parse``/``parse_batch`` with the home's device names masked where that helps."""

    def __init__(self, engine: "Engine", masker: Masker) -> None:
        self.engine, self.masker = engine, masker
        self.responder = engine.responder

    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]

    def parse_batch(self, texts: Iterable[str]) -> list[Parse]:
        texts = list(texts)
        plain = self.engine.parse_batch(texts)
        out = list(plain)
        todo: list[tuple[int, str, list[Hit], list[tuple[int, int, int]]]] = []
        for i, parse in enumerate(plain):
            hits = self.masker.find(parse.text)
            if hits and not (_found_all(parse, hits) and parse.confidence >= SURE):
                masked, spans = _mask(parse.text, hits)
                todo.append((i, masked, hits, spans))
        if todo:
            for (i, _, hits, spans), parse in zip(todo, self.engine.parse_batch([t for _, t, _, _ in todo])):
                # The masked sentence wins when it is understood and the plain one missed a name or
                # was less sure ("turn the salt lamp on please": 0.69 plain, 0.995 masked).
                if parse.recognized and (not _found_all(plain[i], hits) or parse.confidence > plain[i].confidence):
                    out[i] = self._unmask(parse, plain[i].text, hits, spans)
        return out

    def _unmask(self, parse: Parse, text: str, hits: list[Hit], spans: list[tuple[int, int, int]]) -> Parse:
        """The masked parse with the original text and words: offsets moved back, the placeholder's
        slot given the name as said, the reply rendered again."""
        def back(position: int) -> int:
            shift = 0
            for (masked_start, masked_end, hit_index) in spans:
                hit = hits[hit_index]
                if position >= masked_end:
                    shift += (hit.end - hit.start) - (masked_end - masked_start)
                elif position > masked_start:
                    return hit.end if position >= masked_end - 1 else hit.start
            return position + shift

        slots = []
        for slot in parse.slots:
            start, end = back(slot.start), back(slot.end)
            # A slot on (part of) a placeholder is the name said: "desk" of "desk lamp" included.
            covered = next((hits[h] for s, e, h in spans if slot.start < e and s < slot.end), None)
            if covered is not None:
                start, end = min(start, covered.start), max(end, covered.end)
                said = text[start:end]
                slot = Slot(slot.name, said, said, start, end, slot.confidence)
            else:
                slot = replace(slot, start=start, end=end)
            slots.append(slot)
        reply = self.engine.responder.render(parse.intent, {s.name: str(s.value) for s in slots})
        return Parse(text, parse.intent, parse.confidence, parse.recognized, tuple(slots), reply)


def _found_all(parse: Parse, hits: list[Hit]) -> bool:
    """The plain parse already understood the sentence with each name as a slot of its own, and
    each room as a room ("the lights in the orangery" is no colour)."""
    if not parse.recognized:
        return False
    return all(any(s.start <= h.start and h.end <= s.end and (h.entity is not None or s.name == "area")
                   for s in parse.slots) for h in hits)


def _mask(text: str, hits: list[Hit]) -> tuple[str, list[tuple[int, int, int]]]:
    pieces, spans, at, length = [], [], 0, 0
    for index, hit in enumerate(hits):
        before = text[at:hit.start]
        pieces += [before, hit.placeholder]
        length += len(before)
        spans.append((length, length + len(hit.placeholder), index))
        length += len(hit.placeholder)
        at = hit.end
    pieces.append(text[at:])
    return clean_text("".join(pieces)), spans
