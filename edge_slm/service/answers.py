"""Answers to questions about the home, as Home Assistant's own agent gives them.

Home Assistant renders the text an external agent sends with an intent as a template, with the
states its intent handler matched (``query.matched``, ``query.unmatched``, ``state``, ``slots``).
For a question, what we send is one of these fixed templates, chosen by the question's form: it is
our text, never the user's (what was said reaches Home Assistant only as slot values, which it
does not render), and it answers "is the hallway light on" with "Yes" or "No".
"""

from __future__ import annotations

import re

from edge_slm.engine.nlu import Parse

_NAMES = "{{ query.matched | map(attribute='name') | sort | join(', ') }}"
_UNMATCHED = "{{ query.unmatched | map(attribute='name') | sort | join(', ') }}"
TEMPLATES = {
    # "is the hallway light on"
    "yes_no": "{% if query.matched %}Yes{% else %}No{% endif %}",
    # "are any lights on"
    "any": "{% if query.matched %}Yes, " + _NAMES + "{% else %}No{% endif %}",
    # "are all the lights off"
    "all": "{% if not query.unmatched %}Yes{% else %}No, not " + _UNMATCHED + "{% endif %}",
    # "which lights are on"
    "which": "{% if query.matched %}" + _NAMES + "{% else %}None{% endif %}",
    # "how many lights are on"
    "how_many": "{{ query.matched | length }}",
    # "what is the hallway light": its state, with the unit where it has one
    "what": "{% if state %}{{ state.name }} is {{ state.state_with_unit }}{% else %}Not found{% endif %}",
    # "what is the temperature" (a thermostat's current temperature)
    "temperature": "{% if state and state.attributes.current_temperature is not none %}"
                   "{{ state.attributes.current_temperature }} degrees{% else %}Not known{% endif %}",
}
_WORDS = re.compile(r"[a-z]+")


def form(parse: Parse) -> str | None:
    """Which kind of question this is, from its own words; None: not a question we answer."""
    if parse.intent == "HassClimateGetTemperature":
        return "temperature"
    if parse.intent != "HassGetState":
        return None
    words = _WORDS.findall(parse.said.lower())
    if words[:2] == ["how", "many"]:
        return "how_many"
    if words[:1] == ["which"] or words[:2] in (["what", "lights"], ["what", "devices"]):
        return "which"
    has_state = any(s.name == "state" for s in parse.slots)
    if has_state and {"any", "anything", "anyone"} & set(words):
        return "any"
    if has_state and {"all", "every", "everything"} & set(words):
        return "all"
    if has_state:
        return "yes_no"
    return "what"


def template(parse: Parse) -> str | None:
    """The template that answers the question, or None for anything else."""
    kind = form(parse)
    return TEMPLATES[kind] if kind else None
