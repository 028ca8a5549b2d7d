"""A bundle's speech grammar (``asr/grammar.fsg``, compiled by export/grammar.py) as the runtime
reads it: its words, the intents it holds whole, and whether a word sequence is one of its sentences.

The recogniser decodes with the grammar itself; this is what understanding needs beside it, to
tell a grammar sentence from free text that merely resembles one.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

from edge_slm.engine.bundle import GRAMMAR_COVERS as COVERS


class SpeechGrammar:
    def __init__(self, path: Path) -> None:
        self._arcs: dict[int, list[tuple[str, int]]] = defaultdict(list)
        self._null: dict[int, list[int]] = defaultdict(list)
        covers: list[str] = []
        self.start = self.final = -1
        for line in path.read_text(encoding="utf-8").splitlines():
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

    def _closure(self, states: set[int]) -> set[int]:
        todo, seen = list(states), set(states)
        while todo:
            for target in self._null.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    def accepts(self, words: Sequence[str]) -> bool:
        states = self._closure({self.start})
        for word in words:
            states = self._closure({t for s in states for w, t in self._arcs.get(s, ()) if w == word})
            if not states:
                return False
        return self.final in states
