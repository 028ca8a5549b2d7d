"""Untrusted payloads in: our command topic and Hermes' NLU query, decoded and checked field by field.

Anything refused is a ``RefusedInput`` with a stable code that goes back on the error topic (and
the client's command id, when it sent one, so the answer can be matched).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.service.hermes import NluQuery
from edge_slm.service.wire import MAX_ID_CHARS, UntrustedJsonError, loads_untrusted, optional_str

MAX_AREA_CHARS = 128


@dataclass(frozen=True)
class Command:
    """A command from our topic: UTF-8 text, or JSON ``{"text", "id"?, "area"?}``."""

    id: str
    text: str
    generated_id: bool = False  # the client sent no id; one was made up for the answers
    area: str | None = None  # the room it was said in (a satellite's own), else [site] area

    def to_dict(self) -> dict[str, str]:
        body = {"text": self.text}
        if not self.generated_id:
            body["id"] = self.id
        if self.area:
            body["area"] = self.area
        return body

    @staticmethod
    def from_dict(data: object, max_chars: int) -> "Command":
        if not isinstance(data, dict):
            raise RefusedInput(ErrorCode.INVALID_JSON, 'JSON payload must be an object {"text": ..., "id"?: ...}')
        raw_id = data.get("id")
        if raw_id is not None and (not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool)):
            raise RefusedInput(ErrorCode.INVALID_FIELD, "'id' must be a string")
        # The id is echoed in every answer: made encodable and short before anything uses it.
        command_id = optional_str(raw_id, MAX_ID_CHARS)
        text = data.get("text")
        if not isinstance(text, str):
            raise RefusedInput(ErrorCode.INVALID_FIELD, "'text' must be a string", command_id)
        area = data.get("area")
        if area is not None and not isinstance(area, str):
            raise RefusedInput(ErrorCode.INVALID_FIELD, "'area' must be a string (an area id or name)", command_id)
        if area is not None and len(area) > MAX_AREA_CHARS:
            raise RefusedInput(ErrorCode.INVALID_FIELD, f"'area' is longer than {MAX_AREA_CHARS} characters",
                               command_id)
        return _checked(text, max_chars, command_id, area.strip() or None if area else None)


def _checked(text: str, max_chars: int, command_id: str | None, area: str | None = None) -> Command:
    if len(text) > max_chars:
        raise RefusedInput(ErrorCode.TEXT_TOO_LONG, f"text is {len(text)} characters; the limit is {max_chars}",
                           command_id)
    if not text.strip():
        raise RefusedInput(ErrorCode.EMPTY_TEXT, "text is empty", command_id)
    return Command(command_id or uuid.uuid4().hex, text, generated_id=not command_id, area=area)


def _text(payload: bytes, max_bytes: int) -> str:
    if len(payload) > max_bytes:
        raise RefusedInput(ErrorCode.PAYLOAD_TOO_LARGE, f"payload is {len(payload)} bytes; the limit is {max_bytes}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusedInput(ErrorCode.INVALID_UTF8, f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def decode_command(payload: bytes, max_bytes: int, max_chars: int) -> Command:
    body = _text(payload, max_bytes)
    stripped = body.strip()
    if not stripped.startswith(("{", "[", '"')):
        return _checked(body, max_chars, None)
    try:
        data = loads_untrusted(stripped)
    except UntrustedJsonError as exc:
        raise RefusedInput(ErrorCode.INVALID_JSON, f"payload looks like JSON but is refused: {exc}") from exc
    return Command.from_dict(data, max_chars)


def decode_hermes_query(payload: bytes, max_bytes: int, max_chars: int) -> NluQuery:
    """``hermes/nlu/query``: JSON as rhasspy-hermes writes it; ``input`` within the text limit."""
    body = _text(payload, max_bytes)
    try:
        query = NluQuery.from_dict(loads_untrusted(body))
    except UntrustedJsonError as exc:
        raise RefusedInput(ErrorCode.INVALID_HERMES, f"hermes/nlu/query payload rejected ({exc})") from exc
    except (ValueError, AttributeError) as exc:
        raise RefusedInput(ErrorCode.INVALID_HERMES, f"hermes/nlu/query payload rejected ({str(exc)[:200]})") from exc
    if len(query.input) > max_chars:
        raise RefusedInput(ErrorCode.TEXT_TOO_LONG, f"text is {len(query.input)} characters; the limit is {max_chars}",
                           query.id)
    return query

