"""Labelled utterances and the readers for JSONL, SNIPS and SLURP files.

Every reader yields ``Example``s with character spans; errors name the file
and line so a user can fix their data before any training starts.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Iterator, Mapping

from edge_slm.engine.labelled import DataError, Example


def from_bio(words: list[str], tags: list[str], intent: str, where: str) -> Example:
    if len(words) != len(tags):
        raise DataError(f"{where}: {len(words)} words but {len(tags)} slot tags")
    text = " ".join(words)
    spans: list[tuple[str, int, int]] = []
    offset = 0
    current: list | None = None
    for word, tag in zip(words, tags):
        start, end = offset, offset + len(word)
        offset = end + 1
        if tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[0] != tag[2:])):
            if current:
                spans.append(tuple(current))  # type: ignore[arg-type]
            current = [tag[2:], start, end]
        elif tag.startswith("I-") and current is not None:
            current[2] = end
        elif tag == "O":
            if current:
                spans.append(tuple(current))  # type: ignore[arg-type]
            current = None
        else:
            raise DataError(f"{where}: bad slot tag {tag!r}")
    if current:
        spans.append(tuple(current))  # type: ignore[arg-type]
    return Example(text, intent, tuple(spans))  # type: ignore[arg-type]


def read_snips(folder: Path) -> Iterator[Example]:
    """The Goo et al. split: ``seq.in`` words, ``seq.out`` BIO tags, ``label`` intents."""
    files = [folder / name for name in ("seq.in", "seq.out", "label")]
    for file in files:
        if not file.is_file():
            raise DataError(f"{file}: missing")
    lines = [file.read_text(encoding="utf-8").splitlines() for file in files]
    if not len(lines[0]) == len(lines[1]) == len(lines[2]):
        raise DataError(f"{folder}: seq.in, seq.out and label have different line counts")
    for number, (words, tags, label) in enumerate(zip(*lines), 1):
        yield from_bio(words.split(), tags.split(), label.strip(), f"{files[1]}:{number}")


_ANNOTATION = re.compile(r"\[\s*([\w]+)\s*:\s*([^\]]+?)\s*\]")


def read_slurp(path: Path, slots: Mapping[str, str], part: str = "all") -> Iterator[Example]:
    """SLURP lines (``sentence_annotation`` brackets become spans).

    ``part`` splits the file deterministically by a hash of the sentence
    ("train": even, "eval": odd), so one file serves both and a sentence that
    SLURP holds twice never lands on both sides.  Slot types are
    renamed through ``slots``; types it does not name are left untagged.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                annotated = str(record["sentence_annotation"])
                intent = str(record["intent"])
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{path}:{number}: not a SLURP record ({exc})") from exc
            text_parts: list[str] = []
            spans: list[tuple[str, int, int]] = []
            cursor = length = 0
            for match in _ANNOTATION.finditer(annotated):
                before = annotated[cursor:match.start()]
                value = match.group(2)
                text_parts += [before, value]
                length += len(before)
                name = slots.get(match.group(1))
                if name:
                    spans.append((name, length, length + len(value)))
                length += len(value)
                cursor = match.end()
            text_parts.append(annotated[cursor:])
            text = "".join(text_parts)
            bucket = zlib.crc32(" ".join(text.lower().split()).encode()) % 2
            if part == "train" and bucket or part == "eval" and not bucket:
                continue
            if text.strip():
                yield Example(text, intent, tuple(spans))


def relabel(examples: Iterator[Example] | list[Example], intent_map: Mapping[str, str],
            skip: tuple[str, ...], other: str | None) -> Iterator[Example]:
    """Map a data set's intents onto the recipe's own.

    Mapped intents keep their spans; intents starting with a ``skip`` prefix
    are dropped (too close to an in-scope intent to call them out of scope);
    with ``other`` set, every remaining intent becomes that out-of-scope label.
    """
    for example in examples:
        if example.intent in intent_map:
            yield Example(example.text, intent_map[example.intent], example.spans)
        elif any(example.intent.startswith(prefix) for prefix in skip):
            continue
        elif other:
            yield Example(example.text, other, ())
        elif not intent_map:
            yield example
