"""Escalation: a command the model does not understand is offered to a larger model elsewhere on the
bus (``edge-slm/<site>/escalate``) and answered with its reply, or with our own not-recognised
answer when none comes in time. Every field of a reply is checked before the request is touched."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from edge_slm.engine.nlu import Parse
from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.service.intake import Request
from edge_slm.service.messages import EscalationReply, EscalationRequest, Guess, ModelInfo
from edge_slm.service.wire import UntrustedJsonError, loads_untrusted, safe_str


@dataclass
class Pending:
    request: Request
    parse: Parse
    deadline: float


class Escalations:
    """Requests waiting for a reply; the daemon's worker adds, its network thread replies, its timer expires."""

    def __init__(self, site_id: str, timeout_s: float, max_text_chars: int) -> None:
        self.site_id, self.timeout_s, self.max_text_chars = site_id, timeout_s, max_text_chars
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def add(self, request: Request, parse: Parse) -> EscalationRequest:
        """Remember the request; the message to publish on the escalate topic."""
        with self._lock:
            self._pending[request.id] = Pending(request, parse, time.monotonic() + self.timeout_s)
        return EscalationRequest(request.id, parse.text, self.site_id, Guess(parse.intent, parse.confidence))

    def reply(self, payload: bytes) -> tuple[Request, Parse, ModelInfo] | None:
        """The request a reply answers and the parse to publish for it; None for a late or foreign
        reply (the request was already answered). Raises RefusedInput for a malformed reply."""
        try:
            reply = EscalationReply.from_dict(loads_untrusted(payload.decode("utf-8")), self.max_text_chars)
        except (UntrustedJsonError, UnicodeDecodeError, ValueError) as exc:
            raise RefusedInput(ErrorCode.INVALID_ESCALATION_REPLY, safe_str(exc, 300)) from exc
        with self._lock:
            pending = self._pending.pop(reply.id, None)
        if pending is None:
            return None
        guess = pending.parse
        parse = Parse(guess.text, reply.intent or guess.intent, reply.confidence if reply.intent else guess.confidence,
                      bool(reply.intent), (), reply.response if reply.response is not None else guess.response)
        return pending.request, parse, ModelInfo(reply.model, "")

    def expired(self) -> list[Pending]:
        """Requests whose reply did not come in time: answered with our own parse."""
        now = time.monotonic()
        with self._lock:
            expired = [p for p in self._pending.values() if p.deadline <= now]
            for p in expired:
                self._pending.pop(p.request.id, None)
        return expired
