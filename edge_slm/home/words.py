"""The words that say what kind of device is meant ("lights" -> light): shared by the resolver and
the replies given without a home (this module needs nothing beyond the standard library)."""

from __future__ import annotations

import re

# What the words say about the domain ("lights" -> light); checked on whole words.
DOMAIN_WORDS = {
    "light": {"light", "lights", "lamp", "lamps", "bulb", "bulbs", "chandelier", "sconce"},
    "fan": {"fan", "fans"},
    "cover": {"blind", "blinds", "curtain", "curtains", "shade", "shades", "shutter", "shutters", "awning",
              "garage", "gate", "skylight", "cover", "covers"},
    "lock": {"lock", "locks", "deadbolt"},
    "climate": {"thermostat", "heating", "ac", "hvac", "heat"},
    "media_player": {"tv", "television", "speaker", "speakers", "stereo", "radio"},
    "vacuum": {"vacuum", "roomba"},
    "switch": {"plug", "plugs", "outlet", "outlets"},  # not "switch": it is the verb far more often
}
ALL_DOMAIN_WORDS = frozenset().union(*DOMAIN_WORDS.values())
# What a verb says about the domain ("lock the back door": a lock).
VERB_DOMAINS = {"open": {"cover", "valve", "lock"}, "close": {"cover", "valve"}, "shut": {"cover", "valve"},
                 "lock": {"lock"}, "unlock": {"lock"}, "raise": {"cover"}, "lower": {"cover"},
                 "dim": {"light"}, "brighten": {"light"}}


def domains_said(text: str) -> frozenset[str]:
    """The kinds of device the words say ("the lights"), narrowed by the verb ("open the garage")."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    found = {domain for domain, hints in DOMAIN_WORDS.items() if words & hints}
    for verb, domains in VERB_DOMAINS.items():
        if verb in words:
            found |= domains if not found else found & domains or found
    return frozenset(found)


def domain_of_word(word: str) -> str | None:
    return next((domain for domain, words in DOMAIN_WORDS.items() if word in words), None)


def domain_of_verb(verb: str) -> str | None:
    """One domain the verb implies; of several, the first by name ("open": cover, whose reply
    "Opened" a valve's agrees with)."""
    domains = VERB_DOMAINS.get(verb)
    return min(domains) if domains else None
