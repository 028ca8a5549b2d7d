"""Response templates: a parse in, a sentence out.

``responses.json`` maps an intent to a list of templates with ``{slot}``
placeholders; the first template whose placeholders are all filled wins, so
the reply is deterministic.  ``_fallback`` answers everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
FALLBACK_KEY = "_fallback"
NOT_RECOGNIZED_KEY = "_not_recognized"


@dataclass(frozen=True)
class Responder:
    templates: Mapping[str, list[str]]

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Responder":
        templates: dict[str, list[str]] = {}
        for intent, value in data.items():
            items = [value] if isinstance(value, str) else list(value)
            templates[intent] = [str(t) for t in items]
        return Responder(templates)

    def render(self, intent: str | None, slots: Mapping[str, str]) -> str:
        if intent is None:
            return self._first(NOT_RECOGNIZED_KEY, slots) or "Sorry, I didn't understand that."
        return (self._first(intent, slots) or self._first(FALLBACK_KEY, slots) or "Done.")

    def _first(self, key: str, slots: Mapping[str, str]) -> str | None:
        for template in self.templates.get(key, []):
            names = _PLACEHOLDER.findall(template)
            if all(slots.get(name) for name in names):
                return _PLACEHOLDER.sub(lambda m: str(slots[m.group(1)]), template)
        return None
