"""The bundle's templates as a speech grammar: a word graph (pocketsphinx FSG) compiled from the
hassil expression tree itself (alternatives, optional words, permutations, rules and lists), not
from sampled sentences, and minimised so that the recogniser searches a small graph.

Each template sentence is expanded into token sequences (words, and ``{list}`` tokens for its
slot lists), the sequences of all intents are merged into a minimal acyclic automaton (shared
prefixes and suffixes), and every ``{list}`` edge is replaced by that list's own minimal word
graph. Free text (wildcards, long number ranges) cannot be in a grammar: those sentences are
left to the bundle's n-gram model, decoded beside it.
"""

from __future__ import annotations

import re
from itertools import permutations, product
from typing import Any, Mapping

from hassil.expression import (
    Alternative,
    Expression,
    ListReference,
    Permutation,
    RuleReference,
    TextChunk,
)
from hassil.expression import Sequence as HSequence
from hassil.intents import IntentData, Intents, RangeSlotList, TextSlotList

from edge_slm.engine.numbers import number_words
from edge_slm.engine.bundle import GRAMMAR_COVERS as COVERS

MAX_SEQUENCES = 20000  # per template sentence, before merging
MAX_RANGE_VALUES = 300
_WORD = re.compile(r"[a-z0-9']+")

Tokens = tuple[str, ...]


class Unsupported(Exception):
    """A template the grammar cannot hold; left to the n-gram model."""


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def words(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        # A number said as words; a name that merely starts with a digit ("3d printer") as it is.
        out += number_words(float(word)).split() if _NUMBER.fullmatch(word) else [word.strip("'")]
    return [w for w in out if w]


class _Dag:
    """A minimal acyclic automaton over token sequences (a trie whose equal subtrees are merged)."""

    def __init__(self, sequences: set[Tokens]) -> None:
        trie: list[dict[str, int]] = [{}]
        final: list[bool] = [False]
        for sequence in sorted(sequences):
            node = 0
            for token in sequence:
                child = trie[node].get(token)
                if child is None:
                    child = len(trie)
                    trie.append({})
                    final.append(False)
                    trie[node][token] = child
                node = child
            final[node] = True
        register: dict[tuple[Any, ...], int] = {}
        canonical: dict[int, int] = {}
        self.edges: list[list[tuple[str, int]]] = []
        self.final: list[bool] = []

        def visit(node: int) -> int:
            if node in canonical:
                return canonical[node]
            arcs = tuple(sorted((token, visit(child)) for token, child in trie[node].items()))
            signature = (final[node], arcs)
            if signature not in register:
                register[signature] = len(self.edges)
                self.edges.append(list(arcs))
                self.final.append(final[node])
            canonical[node] = register[signature]
            return canonical[node]

        self.start = visit(0)


class FsgCompiler:
    def __init__(self, intents: Intents, lists: Mapping[str, Any]) -> None:
        self.intents, self.lists = intents, lists
        self.skipped: list[str] = []
        self._list_values: dict[str, set[Tokens]] = {}

    def compile(self, names: list[str] | None = None, said_otherwise: frozenset[str] = frozenset()) -> str:
        """``said_otherwise``: intents the bundle also learned from data outside these templates
        (hand-written or real phrasings): the grammar never holds those whole, whatever it compiled."""
        sequences: set[Tokens] = set()
        whole: list[str] = []  # intents every template of which is in the grammar
        for intent_name, intent in sorted(self.intents.intents.items()):
            if names and intent_name not in names:
                continue
            complete = True
            for block in intent.data:
                for sentence in block.sentences:
                    try:
                        found = self._expand(getattr(sentence, "expression", sentence), block)
                    except Unsupported as exc:
                        self.skipped.append(f"{intent_name}: {exc}")
                        complete = False
                        continue
                    sequences.update(s for s in found if s)
            if complete and intent_name not in said_otherwise:
                whole.append(intent_name)
        if not sequences:
            raise Unsupported("no template could be compiled")
        # A comment line (the recogniser skips it) that the runtime reads: voice/grammar.py.
        return f"{COVERS} {' '.join(whole)}\n" + self._fsg(_Dag(sequences))

    # ---------------------------------------------------------------- expansion
    def _expand(self, expr: Expression, block: IntentData) -> list[Tokens]:
        if isinstance(expr, TextChunk):
            return [tuple(words(expr.original_text or expr.text))]
        if isinstance(expr, Alternative):
            out: list[Tokens] = []
            for item in expr.items:
                out += self._expand(item, block)
            if getattr(expr, "is_optional", False):
                out.append(())
            return list(dict.fromkeys(out))
        if isinstance(expr, Permutation):
            out = []
            for order in permutations(expr.items):
                out += self._product([self._expand(item, block) for item in order])
            return list(dict.fromkeys(out))
        if isinstance(expr, HSequence):
            return self._product([self._expand(item, block) for item in expr.items])
        if isinstance(expr, RuleReference):
            rule = block.expansion_rules.get(expr.rule_name) or self.intents.expansion_rules.get(expr.rule_name)
            if rule is None:
                raise Unsupported(f"rule <{expr.rule_name}> is not defined")
            return self._expand(rule.expression, block)
        if isinstance(expr, ListReference):
            name = expr.list_name
            if name not in self._list_values:
                self._list_values[name] = self._values(expr, block)
            return [(f"{{{name}}}",)]
        raise Unsupported(f"expression {type(expr).__name__}")

    @staticmethod
    def _product(parts: list[list[Tokens]]) -> list[Tokens]:
        total = 1
        for part in parts:
            total *= max(1, len(part))
            if total > MAX_SEQUENCES:
                raise Unsupported(f"more than {MAX_SEQUENCES} word sequences")
        return list(dict.fromkeys(tuple(t for piece in combo for t in piece) for combo in product(*parts)))

    def _values(self, ref: ListReference, block: IntentData) -> set[Tokens]:
        own = self.lists.get(ref.list_name)
        if isinstance(own, Mapping):
            texts = [v for vs in own.values() for v in vs]
        elif own:
            texts = list(own)
        else:
            slot_list = block.slot_lists.get(ref.list_name) or self.intents.slot_lists.get(ref.list_name)
            inline = ref.get_inline_range()
            if inline is not None:
                texts = self._range(inline[0], inline[1], inline[2])
            elif isinstance(slot_list, RangeSlotList):
                texts = self._range(slot_list.start, slot_list.stop, slot_list.step)
            elif isinstance(slot_list, TextSlotList):
                values: set[Tokens] = set()
                for value in slot_list.values:
                    values.update(self._expand(value.text_in, block))
                return {v for v in values if v}
            else:
                raise Unsupported(f"list {{{ref.list_name}}} is free text")
        return {tuple(words(t)) for t in texts if words(t)}

    @staticmethod
    def _range(start: int, stop: int, step: int) -> list[str]:
        count = (stop - start) // max(1, step) + 1
        if count > MAX_RANGE_VALUES:
            raise Unsupported(f"a range of {count} numbers")
        return [number_words(float(v)) for v in range(start, stop + 1, step)]

    # ---------------------------------------------------------------- output
    def _fsg(self, dag: _Dag) -> str:
        lists = {name: _Dag(values) for name, values in self._list_values.items()}
        transitions: list[tuple[int, int, float, str | None]] = []
        final_state = len(dag.edges)  # the sentence graph's nodes keep their numbers
        count = final_state + 1

        def copy_list(graph: _Dag, source: int, target: int, share: float) -> None:
            """The list's own word graph between ``source`` and ``target`` (its one leaf is ``target``)."""
            nonlocal count
            states = {graph.start: source}
            states.update({n: target for n, arcs in enumerate(graph.edges) if not arcs})
            for n in range(len(graph.edges)):
                if n not in states:
                    states[n], count = count, count + 1
            for n, arcs in enumerate(graph.edges):
                exits = len(arcs) + (1 if graph.final[n] and arcs else 0)
                p = share / len(arcs) if n == graph.start else 1.0 / max(1, exits)
                transitions.extend((states[n], states[m], p, word) for word, m in arcs)
                if graph.final[n] and arcs:
                    transitions.append((states[n], target, 1.0 / exits, None))

        for node, arcs in enumerate(dag.edges):
            prob = 1.0 / (len(arcs) + (1 if dag.final[node] else 0))
            if dag.final[node]:
                transitions.append((node, final_state, prob, None))
            for token, child in arcs:
                if token.startswith("{"):
                    copy_list(lists[token[1:-1]], node, child, prob)
                else:
                    transitions.append((node, child, prob, token))
        lines = ["FSG_BEGIN edge_slm", f"NUM_STATES {count}", f"START_STATE {dag.start}",
                 f"FINAL_STATE {final_state}"]
        for source, target, p, word in transitions:
            lines.append(f"TRANSITION {source} {target} {p:.6g}" + (f" {word}" if word else ""))
        lines.append("FSG_END")
        return "\n".join(lines) + "\n"
