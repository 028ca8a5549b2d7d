"""Sample labelled utterances from Home Assistant-style (hassil) intent templates.

hassil parses the YAML and each template into an expression tree; this module
walks that tree at random so every template is visited evenly (exhaustive
expansion explodes combinatorially) and records the character span of every
list value as a slot.  The user's own home (device names per domain, areas,
floors, list items) comes from the recipe, never from the templates.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from hassil.expression import (
    Alternative,
    Expression,
    ListReference,
    Permutation,
    RuleReference,
    Sentence,
    TextChunk,
)
from hassil.expression import Sequence as HSequence
from hassil.intents import (
    IntentData,
    Intents,
    RangeSlotList,
    SlotList,
    TextSlotList,
    WildcardSlotList,
)
from hassil.parse_expression import parse_sentence

from edge_slm.engine.labelled import DataError, Example
from edge_slm.engine.numbers import number_words


def _load_intents(source: Path) -> Intents:
    """Templates from a folder of YAML files, or one merged JSON file (as home-assistant-intents ships)."""
    if source.is_file() and source.suffix == ".json":
        try:
            return Intents.from_dict(json.loads(source.read_text(encoding="utf-8")))
        except Exception as exc:  # hassil raises plain exceptions for bad templates
            raise DataError(f"{source}: templates do not parse ({exc})") from exc
    files = sorted(source.rglob("*.yaml"))
    if not files:
        raise DataError(f"{source}: no template (*.yaml) files")
    for file in files:
        try:
            yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
            raise DataError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    try:
        return Intents.from_files(files)
    except Exception as exc:  # hassil raises plain exceptions for bad templates
        raise DataError(f"{source}: templates do not parse ({exc})") from exc


def _check_templates(intents: Intents, source: Path) -> None:
    """Parse every template now, so a typo is one line naming the file and line, not a traceback
    in the middle of sampling."""
    for name, intent in intents.intents.items():
        for block in intent.data:
            for template in block.sentence_texts:
                try:
                    parse_sentence(template, keep_text=True)
                except Exception as exc:  # hassil's ParseError and plain exceptions alike
                    raise DataError(f"{_where(source, template, name)}: template {template!r} does not parse "
                                    f"({exc})") from None


def _where(source: Path, template: str, intent: str) -> str:
    if source.is_dir():
        for file in sorted(source.rglob("*.yaml")):
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                if template in line:
                    return f"{file}:{number}"
    return f"{source} (intent {intent})"


@dataclass
class _Piece:
    text: str
    slot: str | None = None


class TemplateSampler:
    def __init__(self, intents: Intents, lists: Mapping[str, Any], rng: random.Random) -> None:
        self.intents = intents
        self.lists = lists
        self.rng = rng

    @staticmethod
    def load(folder: Path, lists: Mapping[str, Any], seed: int,
             only: Sequence[str] | None = None) -> "TemplateSampler":
        intents = _load_intents(folder)
        _check_templates(intents, folder)
        if only:
            unknown = sorted(set(only) - set(intents.intents))
            if unknown:
                raise DataError(f"{folder}: no templates for intent(s) {', '.join(unknown)}")
            intents.intents = {k: v for k, v in intents.intents.items() if k in set(only)}
        return TemplateSampler(intents, lists, random.Random(seed))

    def sample(self, per_intent: int) -> list[Example]:
        examples: list[Example] = []
        for name in sorted(self.intents.intents):
            blocks = [b for b in self.intents.intents[name].data if b.sentence_texts]
            if not blocks:
                raise DataError(f"intent {name}: no sentence templates")
            seen: set[str] = set()
            for _ in range(per_intent * 4):
                if len(seen) >= per_intent:
                    break
                block = self.rng.choice(blocks)
                template = self.rng.choice(block.sentence_texts)
                example = self._one(name, block, parse_sentence(template, keep_text=True))
                if example and example.text not in seen:
                    seen.add(example.text)
                    examples.append(example)
        return examples

    # -------------------------------------------------------------- walking
    def _one(self, intent: str, block: IntentData, sentence: Sentence) -> Example | None:
        pieces: list[_Piece] = []
        if self.rng.random() < 0.08 and self.intents.skip_words:
            pieces.append(_Piece(self.rng.choice(self.intents.skip_words) + " "))
        self._walk(sentence.expression, block, pieces, slot=None)
        text = ""
        spans: list[tuple[str, int, int]] = []
        for piece in pieces:
            chunk = piece.text
            if piece.slot is None:
                text += chunk
                continue
            if text and not text.endswith(" ") and not chunk.startswith(" "):
                text += " " if text[-1].isalnum() and chunk[:1].isalnum() else ""
            stripped = chunk.strip()
            if not stripped:
                continue
            start = len(text) + (len(chunk) - len(chunk.lstrip()))
            text += chunk
            spans.append((piece.slot, start, start + len(stripped)))
        return _collapse(text, spans, intent)

    def _walk(self, expr: Expression, block: IntentData, out: list[_Piece], slot: str | None) -> None:
        if isinstance(expr, TextChunk):
            out.append(_Piece(expr.original_text or expr.text, slot))
        elif isinstance(expr, Alternative):
            self._walk(self.rng.choice(expr.items), block, out, slot)
        elif isinstance(expr, Permutation):
            items = list(expr.items)
            self.rng.shuffle(items)
            for item in items:
                self._walk(item, block, out, slot)
                out.append(_Piece(" ", slot))
        elif isinstance(expr, HSequence):
            for item in expr.items:
                self._walk(item, block, out, slot)
        elif isinstance(expr, RuleReference):
            rule = block.expansion_rules.get(expr.rule_name) or \
                self.intents.expansion_rules.get(expr.rule_name)
            if rule is None:
                raise DataError(f"template rule <{expr.rule_name}> is not defined")
            self._walk(rule.expression, block, out, slot)
        elif isinstance(expr, ListReference):
            out.append(_Piece(self._list_value(expr, block), expr.slot_name))
        else:
            raise DataError(f"unsupported template expression {type(expr).__name__}")

    def _list_value(self, ref: ListReference, block: IntentData) -> str:
        own = self.lists.get(ref.list_name)
        if isinstance(own, Mapping):
            # Per-domain values (device names): follow the block's context.
            domains = _context_domains(block) or list(own)
            pool = [v for d in domains for v in own.get(d, [])] or [v for vs in own.values() for v in vs]
            return self.rng.choice(pool)
        if own:
            return self.rng.choice(list(own))
        inline = ref.get_inline_range()
        if inline:
            return self._number(self.rng.randrange(inline[0], inline[1] + 1, inline[2]))
        slot_list: SlotList | None = block.slot_lists.get(ref.list_name) or \
            self.intents.slot_lists.get(ref.list_name)
        if isinstance(slot_list, RangeSlotList):
            value: float = self.rng.randrange(slot_list.start, slot_list.stop + 1, slot_list.step)
            if slot_list.fraction_type is not None and self.rng.random() < 0.2:
                value += 0.5
            return self._number(value)
        if isinstance(slot_list, TextSlotList):
            pieces: list[_Piece] = []
            self._walk(self.rng.choice(slot_list.values).text_in, block, pieces, None)
            return "".join(p.text for p in pieces)
        if isinstance(slot_list, WildcardSlotList) or slot_list is None:
            raise DataError(f"list {{{ref.list_name}}} needs values in the recipe's lists")
        raise DataError(f"list {{{ref.list_name}}} has an unsupported type")

    def _number(self, value: float) -> str:
        # The templates carry their own unit words ("%", "percent", "degrees").
        if self.rng.random() < 0.5:
            return number_words(value)
        return str(int(value)) if float(value).is_integer() else str(value)


def _context_domains(block: IntentData) -> list[str]:
    found: list[str] = []
    for source in (block.requires_context, block.slots):
        value = source.get("domain")
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, (list, tuple, set)):
            found.extend(value)
    return found


def _collapse(text: str, spans: list[tuple[str, int, int]], intent: str) -> Example | None:
    """Collapse runs of spaces, moving span offsets with the text."""
    mapping: list[int] = []
    out: list[str] = []
    for ch in text:
        mapping.append(len(out))
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    mapping.append(len(out))
    collapsed = "".join(out)
    lead = len(collapsed) - len(collapsed.lstrip())
    final = collapsed.strip()
    if not final:
        return None
    moved = []
    for name, start, end in spans:
        s, e = mapping[start] - lead, mapping[end] - lead
        value = final[s:e].strip()
        if value:
            s += len(final[s:e]) - len(final[s:e].lstrip())
            moved.append((name, s, s + len(value)))
    return Example(final, intent, tuple(moved))
