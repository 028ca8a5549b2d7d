"""Untrusted bytes in, always-encodable JSON out.

Everything a client sends may be hostile: JSON nested thousands deep, lone
surrogate escapes (valid JSON, not encodable as UTF-8), megabyte-long ids.
Parsing is bounded before the recursive decoder sees the text, and every echoed
field goes through ``safe_str`` so that the answer itself can always be encoded.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from edge_slm.errors import EdgeSlmError, ErrorCode

MAX_DEPTH = 32
MAX_ID_CHARS = 128

# JSON strings (with escapes) are removed before brackets are counted: "[[[" inside a string is text.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class UntrustedJsonError(EdgeSlmError, ValueError):
    """The text is not JSON we accept; the message says why in one line."""

    default_code = ErrorCode.INVALID_JSON


def nesting_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_untrusted(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting and non-finite numbers before decoding."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise UntrustedJsonError(f"JSON is nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:  # the bracket count missed a case: still an answer, never a crash
        raise UntrustedJsonError("JSON is nested too deeply") from exc
    except ValueError as exc:
        if isinstance(exc, UntrustedJsonError):
            raise
        raise UntrustedJsonError(f"does not parse ({exc.args[0]})") from exc


def _refuse_constant(name: str) -> Any:
    raise UntrustedJsonError(f"{name} is not a JSON number")


def safe_str(value: Any, limit: int = MAX_ID_CHARS) -> str:
    """``value`` as text that encodes as UTF-8: lone surrogates replaced, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit]
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def optional_str(value: Any, limit: int = MAX_ID_CHARS) -> str | None:
    return None if value is None else safe_str(value, limit)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return safe_str(value, len(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {safe_str(k, len(str(k))): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; never raises for a message built from untrusted strings or numbers."""
    try:
        return json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return json.dumps(_clean(message), ensure_ascii=False, allow_nan=False).encode("utf-8")
