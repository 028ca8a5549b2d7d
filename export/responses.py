"""Response templates for the bundle, from Home Assistant's response YAML and the recipe.

Home Assistant's templates are Jinja over live entity state; a device without
that state can only use the plain ones.  ``{{ slots.x }}`` becomes ``{x}``;
anything still holding Jinja is left out, and the recipe fills the gaps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from edge_slm.engine.labelled import DataError

_SLOT = re.compile(r"\{\{\s*slots\.(\w+)(?:\s*\|[^}]*)?\s*\}\}")


def _plain(template: str) -> str | None:
    converted = _SLOT.sub(lambda m: "{" + m.group(1) + "}", " ".join(template.split()))
    return None if "{%" in converted or "{{" in converted else converted


def from_home_assistant(source: Path) -> dict[str, list[str]]:
    """Responses from a folder of YAML files or one merged JSON file (home-assistant-intents' data)."""
    found: dict[str, list[str]] = {}
    if source.is_file():
        tables = [json.loads(source.read_text(encoding="utf-8"))]
    else:
        tables = [yaml.safe_load(file.read_text(encoding="utf-8")) or {} for file in sorted(source.glob("*.yaml"))]
    for data in tables:
        for intent, variants in (data.get("responses", {}).get("intents", {}) or {}).items():
            plain = [p for p in (_plain(str(t)) for t in (variants or {}).values()) if p]
            if plain:
                # Templates with more placeholders are more specific: try them first.
                plain.sort(key=lambda t: -t.count("{"))
                found.setdefault(intent, []).extend(plain)
    return found


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def build_responses(settings: dict[str, Any], intents: list[str], slots: list[str]) -> dict[str, Any]:
    """Responses per intent: the recipe's own first, then Home Assistant's plain ones.

    A recipe template naming a slot the data never has is an error (it could never be said);
    an imported one is left out for the same reason.
    """
    known = set(slots)
    templates: dict[str, list[str]] = {}
    if "path" in settings:
        for intent, found in from_home_assistant(Path(settings["path"])).items():
            templates[intent] = [t for t in found if set(_PLACEHOLDER.findall(t)) <= known]
    for intent, value in settings.get("intents", {}).items():
        override = [value] if isinstance(value, str) else list(value)
        for template in override:
            unknown = sorted(set(_PLACEHOLDER.findall(str(template))) - known)
            if unknown:
                raise DataError(f"responses.intents.{intent}: {template!r} names slot(s) {', '.join(unknown)}, "
                                f"which no training example has (slots: {', '.join(sorted(known)) or 'none'})")
        templates[intent] = override + templates.get(intent, [])
    result: dict[str, Any] = {k: v for k, v in templates.items() if k in intents}
    result["_fallback"] = [settings.get("fallback", "Done.")]
    result["_not_recognized"] = [settings.get("not_recognized", "Sorry, I couldn't understand that.")]
    return result
