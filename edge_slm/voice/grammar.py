"""A bundle's speech grammar (``asr/grammar.fsg``, compiled by export/grammar.py) as the runtime
reads it: its words, the intents it holds whole, whether a word sequence is one of its sentences
and which sentence it is with a word the noise hid.

The recogniser decodes with the grammar itself; this is what understanding needs beside it, to
tell a grammar sentence from free text that merely resembles one.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from difflib import SequenceMatcher
from typing import Sequence

from edge_slm.engine.bundle import GRAMMAR_COVERS as COVERS

# Words a speaker drops or adds and a recogniser loses or hears in a pause ("a lot of sugar" said
# "lot of sugar", "mocha with skim milk" heard "mocha skim milk"): one of them heard or left out
# costs half an edit, so the nearest sentence keeps the content words heard ("little bit of
# cream" -> "a little bit of cream", not "a bit of cream").
FUNCTION_WORDS = frozenset("a an the of and with to for in on at".split())
FUNCTION_EDIT = 0.5


class SpeechGrammar:
    def __init__(self, fsg: str) -> None:
        """``fsg``: the grammar file's text."""
        self._arcs: dict[int, list[tuple[str, int]]] = defaultdict(list)
        self._null: dict[int, list[int]] = defaultdict(list)
        covers: list[str] = []
        self.start = self.final = -1
        for line in fsg.splitlines():
            parts = line.split()
            if line.startswith(COVERS):
                covers = line[len(COVERS):].split()
            elif not parts:
                continue
            elif parts[0] == "START_STATE":
                self.start = int(parts[1])
            elif parts[0] == "FINAL_STATE":
                self.final = int(parts[1])
            elif parts[0] == "TRANSITION" and len(parts) > 4:
                self._arcs[int(parts[1])].append((parts[4], int(parts[2])))
            elif parts[0] == "TRANSITION":
                self._null[int(parts[1])].append(int(parts[2]))
        self.words = frozenset(word for arcs in self._arcs.values() for word, _ in arcs)
        # Intents every template of which is in the grammar: free text the engine takes for one of
        # them, but that is no grammar sentence, is speech the grammar could not explain.
        self.covers = frozenset(covers)

    def completion(self, words: Sequence[str], most: int = 1) -> list[str]:
        """The grammar sentence that holds ``words`` in order with the fewest other grammar words
        between or after them (words the noise hid), at most ``most`` of them; [] if none does."""
        paths = self._reach(words, most)
        return list(paths[self.final]) if self.final in paths else []

    def nearest(self, words: Sequence[str], budget: float) -> tuple[list[str], float] | None:
        """The grammar sentence closest to ``words`` by word edits (a word heard for another costs
        what their spellings differ, "ice" for "iced" 0.24; a word heard or left out, 1, or 0.5 for
        a function word), and that cost; None if every sentence costs more than ``budget``. A search
        over (words consumed, state), cheapest first, so it stops at the first sentence it completes."""
        start = (0.0, 0, self.start, ())
        queue: list[tuple[float, int, int, tuple[str, ...]]] = [start]
        done: set[tuple[int, int]] = set()
        while queue:
            cost, i, state, said = heapq.heappop(queue)
            if (i, state) in done:
                continue
            done.add((i, state))
            if i == len(words) and state == self.final:
                return list(said), cost
            steps: list[tuple[float, int, int, tuple[str, ...]]] = [(cost, i, t, said) for t in self._null.get(state, ())]
            if i < len(words):
                steps.append((cost + _edit(words[i]), i + 1, state, said))  # a word heard that the sentence lacks
            for word, target in self._arcs.get(state, ()):
                steps.append((cost + _edit(word), i, target, said + (word,)))  # a grammar word not heard
                if i < len(words):
                    steps.append((cost + _unlike(words[i], word), i + 1, target, said + (word,)))
            for step in steps:
                if step[0] <= budget and (step[1], step[2]) not in done:
                    heapq.heappush(queue, step)
        return None

    def accepts(self, words: Sequence[str]) -> bool:
        return bool(words) and self.final in self._reach(words, 0)

    def _reach(self, words: Sequence[str], most: int) -> dict[int, tuple[str, ...]]:
        """The states ``words`` lead to with at most ``most`` grammar words unheard, each with the
        cheapest path of grammar words that got there."""
        cost: dict[int, int] = {self.start: 0}
        path: dict[int, tuple[str, ...]] = {self.start: ()}
        self._skip(cost, path, most)
        for word in words:
            heard: dict[int, int] = {}
            heard_path: dict[int, tuple[str, ...]] = {}
            for state, c in cost.items():
                for w, target in self._arcs.get(state, ()):
                    if w == word and c < heard.get(target, most + 1):
                        heard[target], heard_path[target] = c, path[state] + (w,)
            cost, path = heard, heard_path
            self._skip(cost, path, most)
        return path

    def _skip(self, cost: dict[int, int], path: dict[int, tuple[str, ...]], most: int) -> None:
        """Spread along null arcs (free) and along grammar words not heard (one each, ``most`` in all)."""
        todo = list(cost)
        while todo:
            state = todo.pop()
            steps = [(t, (), cost[state]) for t in self._null.get(state, ())]
            steps += [(t, (w,), cost[state] + 1) for w, t in self._arcs.get(state, ())]
            for target, said, c in steps:
                if c <= most and c < cost.get(target, most + 1):
                    cost[target], path[target] = c, path[state] + said
                    todo.append(target)


def _edit(word: str) -> float:
    return FUNCTION_EDIT if word in FUNCTION_WORDS else 1.0


def _unlike(heard: str, word: str) -> float:
    """What hearing ``heard`` for ``word`` costs: 0 the same, else 0.1 plus how much their spellings
    differ (1 - difflib's ratio), at most a whole edit."""
    if heard == word:
        return 0.0
    return min(1.0, 1.1 - SequenceMatcher(None, heard, word).ratio())


def reweighted(fsg: str, power: float) -> str:
    """The grammar file with every transition's probability raised to ``power``."""
    lines = []
    for line in fsg.splitlines():
        parts = line.split()
        if parts and parts[0] == "TRANSITION" and len(parts) > 3:
            probability = float(parts[3])
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"transition probability {parts[3]!r} is not between 0 and 1")
            parts[3] = f"{probability ** power:.6g}"
            line = " ".join(parts)
        lines.append(line)
    return "\n".join(lines) + "\n"
