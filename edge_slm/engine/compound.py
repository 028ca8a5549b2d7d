"""Compound commands: "turn off the kitchen lights and turn on the hallway lights" is two actions,
"add eggs and bread to the shopping list" is two items.

Two rules, both checked by the model itself rather than by grammar:
- split at "and" / "then" / ", and" when every part, parsed on its own, is a recognised command
  and every later part starts with words of its own, not a slot ("play rock and roll" stays one:
  "roll" alone is not a command; "bread to the shopping list" is the rest of a list);
- an intent whose slot of one kind repeats (two ``item``s, two ``area``s) acts once per value.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from edge_slm.engine.nlu import Parse, Slot

if TYPE_CHECKING:
    from edge_slm.engine.nlu import Engine

_JOINER = re.compile(r"\s*,?\s+(?:and then|and also|and|then)\s+|\s*,\s*then\s+", re.IGNORECASE)
# Slots that can stand for several things at once; each value becomes its own action.
FAN_OUT_SLOTS = ("item", "area", "name")
MAX_PARTS = 4


def split_text(text: str) -> list[tuple[int, str]]:
    """Candidate parts with their offsets in ``text``."""
    parts, start = [], 0
    for match in _JOINER.finditer(text):
        parts.append((start, text[start:match.start()]))
        start = match.end()
    parts.append((start, text[start:]))
    return [(offset, part) for offset, part in parts if part.strip()]


def fan_out(parse: Parse) -> list[Parse]:
    if not parse.recognized:
        return [parse]
    for name in FAN_OUT_SLOTS:
        values = [s for s in parse.slots if s.name == name]
        if len(values) > 1:
            shared = tuple(s for s in parse.slots if s.name != name)
            return [replace(parse, slots=tuple(sorted(shared + (value,), key=lambda s: s.start)))
                    for value in values[:MAX_PARTS]]
    return [parse]


def parse_all(engine: "Engine", text: str) -> list[Parse]:
    """One parse per action; a plain command gives a list of one."""
    whole = engine.parse(text)
    cleaned = whole.text
    parts = split_text(cleaned)
    if 1 < len(parts) <= MAX_PARTS:
        parsed = engine.parse_batch([part for _, part in parts])
        # Every later part must be a command of its own, starting with words outside its slots
        # ("turn on the hallway lights"), not the rest of a list ("bread to the shopping list").
        if all(p.recognized for p in parsed) and all(_starts_with_command(p) for p in parsed[1:]):
            shifted = [_shift(p, offset, cleaned) for p, (offset, _) in zip(parsed, parts)]
            return _respond(engine, [one for p in shifted for one in fan_out(p)][:MAX_PARTS])
    return _respond(engine, fan_out(whole))


_NOT_A_VERB = frozenset({"the", "a", "an", "my", "our", "some", "all", "also", "too"})


def _starts_with_command(parse: Parse) -> bool:
    """"turn on the hallway lights" does; "the lights" (the verb is the first part's) does not."""
    words = parse.text.split()
    if not words or words[0].lower() in _NOT_A_VERB:
        return False
    return not parse.slots or min(s.start for s in parse.slots) > 0


def _respond(engine: "Engine", parses: list[Parse]) -> list[Parse]:
    """Each action's own reply ("Added eggs", "Added bread"), not the whole command's."""
    if len(parses) == 1:
        return parses
    return [replace(p, response=engine.responder.render(p.intent, {s.name: str(s.value) for s in p.slots}))
            for p in parses]


def _shift(parse: Parse, offset: int, whole: str) -> Parse:
    """The whole command's text, and slot offsets into it, so every part's spans point into one text."""
    return replace(parse, text=whole, span=(offset, offset + len(parse.text)), slots=tuple(Slot(s.name, s.value, s.raw, s.start + offset, s.end + offset, s.confidence)
                                      for s in parse.slots))
