"""From what was said to the home's own entities: the name, area and floor spans matched against
the home description, together with what the intent and the words imply about the domain.

Matching is rapidfuzz's (``WRatio`` on normalised text: case, articles, possessives, plurals,
small typos and partial names such as "porch" for "Porch Light"), not a hand-written distance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils

from edge_slm.engine.nlu import LEGACY_ACTIONS, Parse
from edge_slm.home.model import (
    Area,
    Entity,
    Floor,
    Home,
    Resolution,
    Target,
)
from edge_slm.home.words import ALL_DOMAIN_WORDS as _ALL_DOMAIN_WORDS
from edge_slm.home.words import domains_said

MATCH_CUTOFF = 80.0
TIE_MARGIN = 2.0  # scores this close to the best are the same match: all of them are targets
WORD_CUTOFF = 75.0  # one word against the home's words: "kitchn" still finds "kitchen"


_INTENT_DOMAINS = {"HassLightSet": {"light"}, "HassSetPosition": {"cover", "valve"},
                   "HassClimateSetTemperature": {"climate"}, "HassClimateGetTemperature": {"climate"},
                   "HassVacuumStart": {"vacuum"}, "HassVacuumReturnToBase": {"vacuum"}}
# Domains whose entities can carry out each device intent, as Home Assistant's own handlers do: an
# action never goes to an entity that cannot perform it (a power sensor called "House Current" is
# never turned off). Intents not listed (a custom recipe's) are not narrowed.
ACTION_DOMAINS = {
    "HassTurnOn": frozenset({"light", "switch", "fan", "cover", "media_player", "input_boolean", "lock", "climate",
                             "vacuum", "valve", "siren", "humidifier", "water_heater", "remote", "script", "scene",
                             "automation", "group"}),
    "HassLightSet": frozenset({"light"}),
    "HassSetPosition": frozenset({"cover", "valve"}),
    "HassClimateSetTemperature": frozenset({"climate"}),
    "HassVacuumStart": frozenset({"vacuum"}),
    "HassVacuumReturnToBase": frozenset({"vacuum"}),
}
# Media controls only ever reach a media player ("stop the espresso machine" taken for a pause is
# refused, never sent to the switch).
ACTION_DOMAINS.update(dict.fromkeys(("HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious",
                                     "HassSetVolume", "HassMediaSearchAndPlay"), frozenset({"media_player"})))
ACTION_DOMAINS["HassTurnOff"] = ACTION_DOMAINS["HassToggle"] = ACTION_DOMAINS["HassTurnOn"] - {"scene", "script"}
# "all the lights", "every light", "lights in the whole house": the command's kind of device everywhere.
_EVERYWHERE = re.compile(r"\b(all|every|everything|everywhere|whole (house|home|place)|entire (house|home))\b")
_WHOLE_HOME = frozenset({"house", "home", "the house", "the home", "whole house", "whole home", "everywhere",
                         "entire house", "entire home", "all rooms", "every room"})
# Words that say what to do, not to what: left out when the whole command is matched against names.
_COMMAND_WORDS = frozenset("""please can could would you will turn switch flip toggle put set make get start stop
    open close shut lock unlock on off of up down in at to for me it now again all the a an my our""".split())
# Words that name no device or place of their own: "every room" must not find the "Living Room".
_GENERIC_WORDS = frozenset("every each everything everywhere room rooms house home whole entire place".split())
_VALUE_WORDS = frozenset("percent degrees degree celsius fahrenheit minutes minute hours hour seconds half".split())
_ARTICLES = re.compile(r"\b(the|a|an|my|our|all|every)\b")
_POSSESSIVE = re.compile(r"(\w)'s\b")


def _without_domain_words(text: str) -> str:
    return " ".join(w for w in normalise(text).split() if w not in _ALL_DOMAIN_WORDS and w + "s" not in _ALL_DOMAIN_WORDS)


def normalise(text: str) -> str:
    """Lower case, no articles or possessive 's, singular last word: "Grandma's lamps" -> "grandma lamp"."""
    text = _POSSESSIVE.sub(r"\1", text.lower())
    text = " ".join(_ARTICLES.sub(" ", utils.default_process(text)).split())
    words = text.split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


@dataclass
class _Index:
    """Names to owners. A query is scored (WRatio) only against the names that share a word with it,
    words matched fuzzily against the index's vocabulary: the full scorer on every name of a
    500-entity home costs ~1.7 ms a command, the candidates alone a tenth of that."""

    keys: list[str] = field(default_factory=list)
    owners: list[object] = field(default_factory=list)
    by_word: dict[str, set[int]] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)

    def add(self, owner: object, *names: str) -> None:
        for name in names:
            key = normalise(name)
            if key:
                for word in key.split():
                    if word not in self.by_word:
                        self.by_word[word] = set()
                        self.vocabulary.append(word)
                    self.by_word[word].add(len(self.keys))
                self.keys.append(key)
                self.owners.append(owner)

    def _candidates(self, query: str) -> list[int]:
        words = query.split()
        # Words that only say what kind of device match half the home: they rank, they do not select.
        telling = [w for w in words if w not in _ALL_DOMAIN_WORDS] or words
        found: set[int] = set()
        for word in telling:
            exact = self.by_word.get(word)
            if exact is not None:
                found |= exact  # a word of the home as said: no typo to look for, and the commonest case
                continue
            for match, _, _ in process.extract(word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=WORD_CUTOFF,
                                               limit=8):
                found |= self.by_word[match]
        return sorted(found)

    def match(self, text: str) -> list[tuple[object, float]]:
        """Every owner within TIE_MARGIN of the best match over the cutoff, best first, once each."""
        query = normalise(text)
        if not query or not self.keys:
            return []
        candidates = self._candidates(query)
        found = process.extract(query, [self.keys[i] for i in candidates], scorer=fuzz.WRatio,
                                score_cutoff=MATCH_CUTOFF, limit=20)
        if not found:
            return []
        best = found[0][1]
        result: dict[int, tuple[object, float]] = {}
        for _, score, position in found:
            owner = self.owners[candidates[position]]
            if score >= best - TIE_MARGIN and id(owner) not in result:
                result[id(owner)] = (owner, round(score / 100, 3))
        return list(result.values())


class Resolver:
    """Built once per home description (reloads build a new one); ``resolve`` per command."""

    def __init__(self, home: Home) -> None:
        from edge_slm.home.mask import Masker

        self.home = home
        self.masker = Masker(home)  # for HomeParser: the home's names the model never saw
        self._entities, self._areas, self._floors = _Index(), _Index(), _Index()
        for entity in home.entities:
            self._entities.add(entity, entity.name, *entity.aliases)
        for area in home.areas:
            self._areas.add(area, area.name, area.id.replace("_", " "), *area.aliases)
        for floor in home.floors:
            self._floors.add(floor, floor.name, floor.id.replace("_", " "), *floor.aliases)

    def domains(self, parse: Parse) -> frozenset[str]:
        return domains_said(parse.text) | _INTENT_DOMAINS.get(parse.intent, frozenset())

    def resolve(self, parse: Parse, site_area: str | None = None, actions: frozenset[str] = LEGACY_ACTIONS) -> Resolution:
        """``actions``: the bundle's intents that act on devices (the manifest's), which need a target."""
        slots = {s.name: s.raw for s in parse.slots}
        if not parse.recognized or not ({"name", "area", "floor"} & slots.keys()) and parse.intent not in actions \
                and parse.intent not in _INTENT_DOMAINS:
            return Resolution()  # nothing in the home to resolve ("what's the weather")
        unresolved: list[str] = []
        area = floor = None
        # Only with a kind of device said: "switch everything on" names nothing to act on.
        said_kind = bool(set(re.findall(r"[a-z]+", parse.text.lower())) & _ALL_DOMAIN_WORDS) or "device_class" in slots
        everywhere = said_kind and bool(_EVERYWHERE.search(parse.text.lower()))
        if "area" in slots and " ".join(slots["area"].lower().split()) in _WHOLE_HOME:
            everywhere = True  # "in the house": no area of the home, the whole of it
            slots.pop("area")
        if "area" in slots:
            matches = self._areas.match(slots["area"])
            area = matches[0][0] if matches else None  # type: ignore[assignment]
            if area is None:
                unresolved.append("area")
        if "floor" in slots:
            matches = self._floors.match(slots["floor"])
            floor = matches[0][0] if matches else None  # type: ignore[assignment]
            if floor is None:
                unresolved.append("floor")
        domains = self.domains(parse)
        targets: list[Target] = []
        named: list[tuple[object, float]] = []
        name_is_place = False
        if "name" in slots:
            named = self._entities.match(slots["name"])
            # "the kitchen lights", "the home office lights": a place (and a kind of device) said as a
            # name; taken as the place when it matches a place at least as well as any device.
            rest = _without_domain_words(slots["name"])
            places = self._areas.match(rest) if rest else []
            if places and (not named or places[0][1] >= named[0][1]):
                named, area, name_is_place = [], places[0][0], True  # type: ignore[assignment]
        elif not ({"area", "floor"} & slots.keys()) or unresolved:
            # No usable span ("open the garage door" with no slots, "Grandma's" taken for an area):
            # the command's words without the verbs are matched against the names, unless all that
            # is left says only what kind of device ("turn on the lights": a place decides).
            words = self._object_words(parse.text)
            if words and set(words.split()) <= _ALL_DOMAIN_WORDS:
                # Only words that say a kind ("the heating"): an entity that is called just that.
                named = [(e, score) for e, score in self._entities.match(words) if score >= 0.99]
            elif words:
                rest = _without_domain_words(words)
                places = self._areas.match(rest) if rest else []
                named = self._entities.match(words)
                if places and (not named or places[0][1] >= named[0][1]):
                    named = []  # "the kitchn lights": a place and a kind of device
                    area = places[0][0]  # type: ignore[assignment]
                    unresolved = [u for u in unresolved if u != "area"]
                elif named:
                    unresolved = [u for u in unresolved if u != "area"]
                    area = None
        elif area is not None:
            # A device named beside its room, the room taken as the area: "turn on the kitchen pendant".
            words = self._object_words(parse.text)
            area_words = set(normalise(area.name).split()) | {w for a in area.aliases for w in normalise(a).split()}
            if set(words.split()) - area_words - _ALL_DOMAIN_WORDS:
                named = [(e, score) for e, score in self._entities.match(words)
                         if isinstance(e, Entity) and e.area == area.id and score >= 0.9]
        if named or ("name" in slots and not name_is_place):
            # Among equally good names, the words and the area decide ("the kitchen light").
            if len(named) > 1 and domains:
                named = [(e, s) for e, s in named if e.domain in domains] or named  # type: ignore[attr-defined]
            if area is not None and "area" in slots and not name_is_place:
                # "the tv in the bedroom": the room said constrains the name; the living room's TV is
                # never the bedroom's (an entity placed in no area is left to its name).
                named = [(e, s) for e, s in named if e.area in (area.id, None)]  # type: ignore[attr-defined]
            elif len(named) > 1 and area is not None:
                named = [(e, s) for e, s in named if e.area == area.id] or named  # type: ignore[attr-defined]
            targets = [self._target(e, s) for e, s in named]  # type: ignore[arg-type]
            if not targets:
                unresolved.append("name")
        else:
            place = area
            if place is None and not unresolved and floor is None and site_area and not everywhere:
                place = self.site_area(site_area)  # "turn on the lights" heard in the kitchen
            if place is None and floor is None and not unresolved and everywhere:
                members = list(self.home.entities)  # "turn off all the lights": every one of them
            else:
                members = self._in_place(place, floor)
            # "turn off the kitchen" means its lights, as Home Assistant's own templates have it.
            wanted = domains or ({"light"} if parse.intent in ("HassTurnOn", "HassTurnOff", "HassToggle") else set())
            members = [e for e in members if not wanted or e.domain in wanted]
            said_class = normalise(slots.get("device_class", ""))
            if said_class and any(e.device_class == said_class for e in members):
                members = [e for e in members if e.device_class == said_class]  # "the blinds", not the garage door
            elif said_class and any(said_class in normalise(e.name).split() for e in members):
                members = [e for e in members if said_class in normalise(e.name).split()]  # no classes: by name
            if not members and not unresolved and place is None and floor is None and parse.intent in _INTENT_DOMAINS:
                # "set the temperature to 21" in a home with one thermostat: that one, as Home
                # Assistant's own handler does; with several, the words must say which.
                only = [e for e in self.home.entities if e.domain in _INTENT_DOMAINS[parse.intent]]
                members = only if len(only) == 1 else []
            targets = [self._target(e, 1.0) for e in members]
            area = place
        capable = ACTION_DOMAINS.get(parse.intent)
        incapable = False  # the words named devices, none of which can do this
        if capable is not None and targets:
            kept = [t for t in targets if t.domain in capable]
            incapable, targets = not kept, kept
        needs = parse.recognized and (incapable or (parse.intent in actions and not targets))
        return Resolution(tuple(targets), area, floor or (self.home.floor(area.floor) if area else None),
                          domains, tuple(unresolved), needs)

    def site_area(self, value: str) -> Area | None:
        """``[site] area``, by id or by name."""
        found = self.home.area(value)
        if found is None:
            matches = self._areas.match(value)
            found = matches[0][0] if matches else None  # type: ignore[assignment]
        return found

    @staticmethod
    def _object_words(text: str) -> str:
        # Values are not names: "set the heating to 21 degrees" is about "heating".
        return " ".join(w for w in re.findall(r"[\w']+", text.lower())
                        if w not in _COMMAND_WORDS and w not in _GENERIC_WORDS and w not in _VALUE_WORDS
                        and not w[0].isdigit())

    def _in_place(self, area: Area | None, floor: Floor | None) -> list[Entity]:
        if area is not None:
            return list(self.home.by_area.get(area.id, ()))
        if floor is not None:
            areas = {a.id for a in self.home.areas if a.floor == floor.id}
            return [e for e in self.home.entities if e.area in areas]
        return []

    @staticmethod
    def _target(entity: Entity, score: float) -> Target:
        return Target(entity.entity_id, entity.name, entity.area, entity.domain, score)
