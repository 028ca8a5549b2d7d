"""One error base for the whole runtime, each error with a stable code.

Codes are the strings clients see on ``edge-slm/<site>/error`` (docs/DESIGN.md); they never change
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


class RefusedInput(EdgeSlmError, ValueError):
    """Input refused before anything ran (a payload, its text, its fields, or its rate); ``code`` says
    which, ``id`` is the client's command id when it had one. The one exception every channel raises
    for a client's input, so each answers it the same way."""

    def __init__(self, code: ErrorCode, message: str, id: str | None = None) -> None:
        super().__init__(message, code)
        self.id = id


class MissingExtra(EdgeSlmError):
    """A feature the config turns on needs an optional part that is not installed."""

    default_code = ErrorCode.CONFIG_INVALID


# What each extra brings, by the module that shows it is installed.
EXTRA_MODULES = {"voice": "pocketsphinx", "home": "rapidfuzz", "wyoming": "wyoming", "vosk": "vosk",
                 "whisper": "ctranslate2"}


def require_extra(extra: str, module: str | None = None) -> None:
    """Raise MissingExtra, one line naming the extra and how to install it, unless it is installed."""
    import importlib.util

    name = module or EXTRA_MODULES[extra]
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(f"this needs the '{extra}' extra, which is not installed (no module {name!r}); install it "
                           f"with: pip install 'edge-slm[{extra}]' (a service: systemd/install.sh install again, "
                           f"which installs the extras its config needs)")
