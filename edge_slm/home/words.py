"""The words that say what kind of device is meant ("lights" -> light): shared by the resolver and
the replies given without a home (this module needs nothing beyond the standard library)."""

from __future__ import annotations

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


def domain_of_word(word: str) -> str | None:
    return next((domain for domain, words in DOMAIN_WORDS.items() if word in words), None)
