"""Never act on a guess: what becomes of a parse before anything is published.

Shared by the daemon and ``edge-slm home eval``, so what is measured is what is published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_slm.engine.nlu import Parse
from edge_slm.engine.respond import Responder
from edge_slm.home.model import Resolution
from edge_slm.home.words import ALL_DOMAIN_WORDS, domain_of_verb, domain_of_word
from edge_slm.service.messages import Reason

if TYPE_CHECKING:
    from edge_slm.home.resolve import Resolver

NEEDS_TARGET_RESPONSE = "Which device do you mean?"


@dataclass(frozen=True)
class Decision:
    """What becomes of one action of a command: its parse (with the reply), what in the home it acts
    on (None without a home), and why it is not acted on (None when it is, or when out of scope).
    ``area``: without a home, the room an action that names no place acts in (the satellite's or
    ``[site] area``), so that what acts on it is never left with a bare, house-wide domain."""

    parse: Parse
    resolution: Resolution | None = None
    reason: Reason | None = None
    area: str | None = None

    @property
    def recognized(self) -> bool:
        return self.parse.recognized


def decide(parse: Parse, responder: Responder, resolver: "Resolver | None", site_area: str | None,
           action_threshold: float, actions: frozenset[str]) -> Decision:
    """A low-confidence action, or one with nothing to act on, becomes not recognised (with its
    reason); with a home, the reply names what was resolved. ``actions``: the bundle's device intents."""
    if not parse.recognized:
        return Decision(parse)
    invalid = _invalid_value(parse)
    if invalid is not None:  # checked before anything is published: "half" never becomes 0
        return Decision(Parse(parse.text, parse.intent, parse.confidence, False, parse.slots, invalid),
                        reason=Reason.INVALID_VALUE)
    reason = Reason.CONTRADICTED if _contradicted(parse) else None
    if reason is None and parse.intent in actions and parse.confidence < action_threshold:
        reason = Reason.LOW_CONFIDENCE
    resolution = None
    if reason is None and resolver is not None:
        resolution = resolver.resolve(parse, site_area, actions)
        if resolution.needs_target:
            reason = Reason.NEEDS_TARGET
    elif reason is None and parse.intent in actions and not {"name", "area", "floor"} & {s.name for s in parse.slots}:
        if not site_area:
            reason = Reason.NEEDS_TARGET  # no home to resolve against, and nothing said names a device or place
        else:  # "turn off the lights" from the kitchen: the kitchen's, said so in the message and the reply
            values = {s.name: str(s.value) for s in parse.slots} | {"area": site_area}
            reply = _said_reply(parse, site_area) or responder.render(parse.intent, values)
            return Decision(Parse(parse.text, parse.intent, parse.confidence, True, parse.slots, reply), area=site_area)
    if reason is not None:
        response = NEEDS_TARGET_RESPONSE if reason is Reason.NEEDS_TARGET else responder.render(None, {})
        said = next((s.raw for s in parse.slots if s.name == "name"), None)
        if resolution is not None and resolution.area is not None and said and "name" in resolution.unresolved:
            response = f"There is no {said} in the {resolution.area.name}"  # never another room's
        return Decision(Parse(parse.text, parse.intent, parse.confidence, False, parse.slots, response), None, reason)
    if resolution is not None and not resolution.name and not resolution.area and len(resolution.targets) > 1:
        # "turn off all the lights": say what was done to how many ("Turned off 7 lights").
        count = _count_reply(parse.intent, resolution)
        if count:
            parse = Parse(parse.text, parse.intent, parse.confidence, True, parse.slots, count)
    if resolution is not None and (resolution.name or resolution.area):
        values = {s.name: str(s.value) for s in parse.slots}
        if resolution.name:
            values["name"] = resolution.name
        if resolution.area:
            values["area"] = resolution.area.name
        reply = _domain_reply(parse.intent, resolution, values) or responder.render(parse.intent, values)
        parse = Parse(parse.text, parse.intent, parse.confidence, True, parse.slots, reply)
    elif resolver is None and (said := _said_reply(parse)):
        parse = Parse(parse.text, parse.intent, parse.confidence, True, parse.slots, said)
    return Decision(parse, resolution)


# Words that say the opposite of an action: "make the kitchen dark" is not HassTurnOn, "turn up
# the music" is not a pause. Acting the opposite way is as bad as the wrong device: not acted on.
_OPPOSITES = {
    "HassTurnOn": frozenset("off dark darker darken kill shut close deactivate disable".split()),
    "HassTurnOff": frozenset("activate enable brighter brighten".split()),
    "HassMediaPause": frozenset("up louder play resume unpause continue".split()),
    "HassMediaUnpause": frozenset("pause stop down quieter".split()),
}


def _contradicted(parse: Parse) -> bool:
    opposite = _OPPOSITES.get(parse.intent)
    return bool(opposite and opposite & set(_WORD.findall(parse.said.lower())))


# The values each numeric slot can take, as Home Assistant's intents take them (percent for
# brightness, position and volume; a thermostat's target in °C or °F; a timer's parts).
_RANGES = {"brightness": (0, 100, "Brightness", "percent"), "position": (0, 100, "Position", "percent"),
           "volume_level": (0, 100, "Volume", "percent"), "temperature": (0, 100, "Temperature", "degrees"),
           "hours": (0, 99, "Hours", ""), "minutes": (0, 999, "Minutes", ""), "seconds": (0, 9999, "Seconds", "")}


def _invalid_value(parse: Parse) -> str | None:
    """The reply for a numeric slot out of its range or not a number at all, else None."""
    for slot in parse.slots:
        bounds = _RANGES.get(slot.name)
        if bounds is None:
            continue
        low, high, label, unit = bounds
        if isinstance(slot.value, bool) or not isinstance(slot.value, (int, float)):
            return f"{label} must be a number from {low} to {high}{' ' + unit if unit else ''}"
        if not low <= slot.value <= high:
            return f"{label} must be from {low} to {high}{' ' + unit if unit else ''}, not {slot.value:g}"
    return None


# What turning on or off means for each kind of device ("close the blinds in the office" must not
# answer "Turned off the lights in the office"), and what to call several of them.
_VERBS = {("cover", "HassTurnOn"): "Opened", ("cover", "HassTurnOff"): "Closed", ("valve", "HassTurnOn"): "Opened",
          ("valve", "HassTurnOff"): "Closed", ("lock", "HassTurnOn"): "Locked", ("lock", "HassTurnOff"): "Unlocked"}
_PLAIN_VERBS = {"HassTurnOn": "Turned on", "HassTurnOff": "Turned off", "HassToggle": "Toggled"}
_PLURALS = {"light": "lights", "switch": "switches", "fan": "fans", "cover": "covers", "media_player": "media players",
            "lock": "locks", "climate": "thermostats", "vacuum": "vacuums", "valve": "valves"}
# Kinds whose named or per-room replies are ours; lights keep the bundle's own templates.
_OWN_REPLY_DOMAINS = frozenset({"cover", "fan", "switch", "lock", "valve"})


def _one_domain(resolution: Resolution) -> str | None:
    domains = {t.domain for t in resolution.targets}
    return domains.pop() if len(domains) == 1 else None


def _verb(domain: str | None, intent: str) -> str | None:
    return _VERBS.get((domain or "", intent)) or _PLAIN_VERBS.get(intent)


def _count_reply(intent: str, resolution: Resolution) -> str | None:
    domain = _one_domain(resolution)
    verb = _verb(domain, intent)
    if verb is None:
        return None
    return f"{verb} {len(resolution.targets)} {_PLURALS.get(domain or '', 'devices')}"


def _domain_reply(intent: str, resolution: Resolution, values: dict[str, str]) -> str | None:
    domain = _one_domain(resolution)
    if domain not in _OWN_REPLY_DOMAINS or intent not in ("HassTurnOn", "HassTurnOff"):
        return None
    verb = _verb(domain, intent)
    if resolution.name:
        return f"{verb} the {values['name']}"
    return f"{verb} the {_PLURALS[domain]} in the {values['area']}" if "area" in values else None


_WORD = re.compile(r"[a-z]+")


def _said_reply(parse: Parse, area: str | None = None) -> str | None:
    """Without a home, a reply in the words said, where the bundle's templates would guess the kind
    of device ("turn off the porch light": "Turned off the porch light", not "... the porch"; "turn
    off the garage fan": not "Turned off the lights in the garage"). None: the templates answer."""
    text, lower = parse.text, parse.text.lower()
    if parse.intent not in _PLAIN_VERBS:
        return None
    places = [s for s in parse.slots if s.name in ("name", "area", "floor") and 0 <= s.start < s.end <= len(text)]
    if not places:
        nouns = [w for w in _WORD.findall(parse.said.lower()) if w in ALL_DOMAIN_WORDS]
        return f"{_verb(domain_of_word(nouns[-1]), parse.intent)} the {nouns[-1]} in the {area}" \
            if area and nouns else None
    start, end = min(s.start for s in places), max(s.end for s in places)
    after = re.match(r"\s+([a-z]+)\b", lower[end:])
    if after and after.group(1) in ALL_DOMAIN_WORDS:  # "porch" + " light"
        end += after.end()
    before = re.search(r"\b([a-z]+)\s+(?:in|on|of|at)\s+(?:the\s+)?$", lower[:start])
    if before and before.group(1) in ALL_DOMAIN_WORDS:  # "lights in the " + "den"
        start = before.start()
    phrase = " ".join(text[start:end].split())
    nouns = [w for w in _WORD.findall(phrase.lower()) if w in ALL_DOMAIN_WORDS]
    if not nouns and not any(s.name == "name" for s in places):
        return None  # "turn off the kitchen": its lights, as the templates say
    # The head noun says the kind: "the garage fan" is a fan, "the lights in the den" lights.
    head = nouns[0] if before and before.group(1) in ALL_DOMAIN_WORDS else (nouns[-1] if nouns else None)
    domain = domain_of_word(head) if head else domain_of_verb(parse.said.lower().split()[0])  # "lock the door"
    return f"{_verb(domain, parse.intent)} the {phrase}"
