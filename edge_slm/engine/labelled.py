"""Labelled utterances: the ``Example`` type and the JSONL reader (docs/DESIGN.md format).

Shared by ``edge-slm eval`` on the device and by the export toolchain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from edge_slm.engine.decode import split_words
from edge_slm.errors import EdgeSlmError, ErrorCode


class DataError(EdgeSlmError, ValueError):
    """Unusable labelled data; the message says where."""

    default_code = ErrorCode.DATA_INVALID


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    spans: tuple[tuple[str, int, int], ...] = field(default_factory=tuple)  # (slot, start, end)
    family: str = ""  # an eval set's grouping ("battery", "every_device"): figures per family

    def slot_values(self) -> list[tuple[str, str]]:
        return [(name, self.text[start:end]) for name, start, end in self.spans]

    def word_tags(self) -> tuple[list[str], list[str]]:
        """Words and their BIO tags (a span covers every word it overlaps)."""
        words = split_words(self.text)
        tags = ["O"] * len(words)
        for name, start, end in self.spans:
            inside = [i for i, w in enumerate(words) if w.start < end and w.end > start]
            for rank, index in enumerate(inside):
                tags[index] = ("B-" if rank == 0 else "I-") + name
        return [w.text for w in words], tags


def _find_span(text: str, value: str, after: int) -> tuple[int, int] | None:
    pattern = re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)
    match = pattern.search(text, after) or pattern.search(text)
    return (match.start(), match.end()) if match else None


def read_jsonl(path: Path) -> Iterator[Example]:
    """``{"text", "intent", "slots": [{"name", "value"}] | {name: value}, "family"?}`` per line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{where}: not valid JSON ({exc.args[0]})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object")
            text, intent = record.get("text"), record.get("intent")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: 'text' must be a non-empty string")
            if not isinstance(intent, str) or not intent:
                raise DataError(f"{where}: 'intent' must be a non-empty string")
            family = record.get("family", "")
            if not isinstance(family, str):
                raise DataError(f"{where}: 'family' must be a string")
            raw_slots = record.get("slots", [])
            if isinstance(raw_slots, dict):
                raw_slots = [{"name": k, "value": v} for k, v in raw_slots.items()]
            if not isinstance(raw_slots, list):
                raise DataError(f"{where}: 'slots' must be a list or an object")
            spans = []
            cursor = 0
            for slot in raw_slots:
                if not isinstance(slot, dict) or not isinstance(slot.get("name"), str) \
                        or not isinstance(slot.get("value"), (str, int, float)):
                    raise DataError(f"{where}: each slot needs a string 'name' and a 'value'")
                value = str(slot["value"])
                found = _find_span(text, value, cursor)
                if found is None:
                    raise DataError(f"{where}: slot {slot['name']!r} value {value!r} "
                                    f"does not occur in the text")
                spans.append((slot["name"], *found))
                cursor = found[1]
            yield Example(text, intent, tuple(spans), family)
