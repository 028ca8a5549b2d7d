"""Spoken numbers to values: speech recognisers write "fifty percent", hubs want 50."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000}
_FRACTIONS = {"half": 0.5, "quarter": 0.25}
_UNIT_WORDS = {
    "percent", "per", "cent", "%", "degrees", "degree", "celsius", "fahrenheit", "c", "f",
    "minutes", "minute", "hours", "hour", "seconds", "second", "and", "point",
    "days", "day", "weeks", "week", "months", "month", "years", "year", "times",
}
_NUMERIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def _number(token: str) -> float | None:
    if _NUMERIC.match(token):
        value = float(token.replace(",", "."))
        # "1e999"-sized digit strings overflow to inf, which JSON cannot carry.
        return value if math.isfinite(value) and abs(value) < 1e15 else None
    return None


def words_to_number(text: str) -> int | float | None:
    """Value of a spoken or written number, or None if ``text`` is not one.

    Units ("percent", "degrees", "%") are ignored so that a slot's raw text
    "fifty percent" gives 50 and "21.5°" gives 21.5.
    """
    cleaned = text.lower().replace("%", " % ").replace("°", " ").replace("-", " ")
    tokens = [t for t in cleaned.split() if t]
    if not tokens:
        return None
    total = 0.0
    current = 0.0
    seen = False
    decimal_digits: list[int] | None = None
    for token in tokens:
        value = _number(token)
        if value is not None:
            current += value
            seen = True
        elif token in ("a", "an"):
            # "a hundred", "two and a half": the article only scales what follows
            continue
        elif token in _UNITS and not (token == "oh" and len(tokens) == 1):
            if decimal_digits is not None:
                decimal_digits.append(_UNITS[token])
            else:
                current += _UNITS[token]
            seen = True
        elif token in _TENS:
            current += _TENS[token]
            seen = True
        elif token in _SCALES:
            current = max(current, 1) * _SCALES[token]
            if _SCALES[token] >= 1000:
                total += current
                current = 0
            seen = True
        elif token in _FRACTIONS:
            current += _FRACTIONS[token]
            seen = True
        elif token == "point":
            decimal_digits = []
        elif token in _UNIT_WORDS:
            continue
        else:
            return None
    if not seen:
        return None
    result = total + current
    if decimal_digits:
        result += float("0." + "".join(str(d) for d in decimal_digits))
    if not math.isfinite(result) or abs(result) >= 1e15:
        return None  # "a trillion trillion ...": no device takes it, and inf is not JSON
    return int(result) if float(result).is_integer() else round(result, 3)


_ONE_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
              "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
              "eighteen", "nineteen"]
_TEN_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(value: float) -> str:
    """English words for 0-999 and halves, as a speech recogniser writes them."""
    whole = int(value)
    if whole >= 1000 or whole < 0:
        return str(value)
    if whole < 20:
        words = _ONE_WORDS[whole]
    elif whole < 100:
        words = _TEN_WORDS[whole // 10] + ("" if whole % 10 == 0 else " " + _ONE_WORDS[whole % 10])
    else:
        rest = whole % 100
        words = _ONE_WORDS[whole // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if value - whole >= 0.5:
        words += " point five"
    return words


# Parts said as words: "half", "a quarter", "three quarters", "a third", "two thirds" (of the whole a
# slot measures: 100 percent, or an hour when "of an hour" follows).
_PART = re.compile(r"\b(?:(a|an|one|two|three)\s+)?(half|thirds?|quarters?)\b"
                   r"(?:\s+(?:of\s+)?(?:an?\s+)?(hours?|minutes?)\b)?")
_COUNTS = {None: 1, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3}
_PARTS = {"half": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4}
# Slots measured in percent: a part of the whole is that share of 100.
PERCENT_SLOTS = frozenset({"brightness", "position", "volume_level"})


@dataclass(frozen=True)
class Part:
    """A part said in words, where it is in the text, and of what ("hour", "minute" or None)."""

    fraction: float
    start: int
    end: int
    of: str | None


def part_near(text: str, start: int, end: int) -> Part | None:
    """The part said in words that overlaps ``text[start:end]`` (a slot's span, which the model may
    have cut short: "three" of "three quarters"), or None. Whole parts ("three halves") are not one.
    A slot that starts before the part ("one and a half") holds a whole too: words_to_number sums it."""
    return next((p for p in parts_in(text) if p.start <= end and p.end >= start), None)


def parts_in(text: str) -> list[Part]:
    """Every part said in words in the text ("set a timer for a quarter of an hour")."""
    found = []
    for match in _PART.finditer(text.lower()):
        fraction = _COUNTS[match.group(1)] / _PARTS[match.group(2)]
        if fraction < 1:
            found.append(Part(fraction, match.start(), match.end(), (match.group(3) or "").rstrip("s") or None))
    return found
