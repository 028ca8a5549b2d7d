"""One error base for the whole runtime, each error with a stable code.

Codes are the strings clients see on ``edge-slm/<site>/error`` (DESIGN.md); they never change
meaning.  Every layer raises a subclass of ``EdgeSlmError``; the service turns any of them into
an error answer by its ``code``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_TEXT = "invalid_text"
    INVALID_FIELD = "invalid_field"
    INVALID_HERMES = "invalid_hermes"
    INVALID_ESCALATION_REPLY = "invalid_escalation_reply"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TEXT_TOO_LONG = "text_too_long"
    EMPTY_TEXT = "empty_text"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    DUPLICATE = "duplicate"
    RETAINED = "retained"
    INTERNAL_ERROR = "internal_error"
    # Not answered on the bus: a device that cannot start says why and exits.
    BUNDLE_INVALID = "bundle_invalid"
    CONFIG_INVALID = "config_invalid"
    DATA_INVALID = "data_invalid"
    AUDIO_UNAVAILABLE = "audio_unavailable"
    ASR_UNAVAILABLE = "asr_unavailable"


class EdgeSlmError(Exception):
    """Base of every error the runtime raises on purpose; ``code`` is stable, ``message`` is one line."""

    default_code = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, code: ErrorCode | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code) if code is not None else self.default_code

    def __str__(self) -> str:
        return self.message
