"""The engine: text in, intent + slots + response out, with ONNX Runtime.

One small class in the manner of a piper voice: ``Engine.load()`` opens the
bundle, then one method per stage (``encode``, ``run``, ``decode``) and
``parse`` / ``parse_batch`` chaining them.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any, Iterable

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from edge_slm.engine.bundle import Bundle, load_bundle
from edge_slm.engine.decode import (
    BioViterbi,
    Word,
    intent_tag_masks,
    softmax,
    split_words,
    tags_to_spans,
    word_first_tokens,
)
from edge_slm.engine.numbers import PERCENT_SLOTS, part_near, parts_in, words_to_number
from edge_slm.engine.respond import Responder
from edge_slm.errors import ErrorCode, RefusedInput

MAX_TEXT_CHARS = 1000
# The device intents of bundles whose manifest has no "actions" (format 1 before 1.4.0).
LEGACY_ACTIONS = frozenset({"HassTurnOn", "HassTurnOff", "HassToggle", "HassLightSet", "HassSetPosition"})
DEFAULT_THRESHOLD = 0.5  # [model] confidence_threshold's default; the export scores under it too
_GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# Slots whose values hubs expect as numbers.
NUMERIC_SLOTS = {
    "brightness", "temperature", "position", "volume_level", "hours", "minutes", "seconds",
    "start_hours", "start_minutes", "start_seconds", "number",
}


@dataclass(frozen=True)
class Slot:
    name: str
    value: Any
    raw: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Parse:
    text: str
    intent: str
    confidence: float
    recognized: bool
    slots: tuple[Slot, ...] = field(default_factory=tuple)
    response: str = ""
    # One action of a compound command: where in ``text`` it was said (its slots point into
    # ``text`` too). None: the whole text.
    span: tuple[int, int] | None = None

    @property
    def said(self) -> str:
        """The words of this action alone."""
        return self.text if self.span is None else self.text[self.span[0]:self.span[1]]

    def slot_values(self) -> dict[str, Any]:
        return {slot.name: slot.value for slot in self.slots}


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Whitespace-collapsed text with control characters removed; raises RefusedInput."""
    if not isinstance(text, str):
        raise RefusedInput(ErrorCode.INVALID_TEXT, "text must be a string")
    if len(text) > max_chars:
        raise RefusedInput(ErrorCode.TEXT_TOO_LONG, f"text is {len(text)} characters; the limit is {max_chars}")
    # Printable ASCII (most commands) holds no control or format characters to blank out.
    if text.isascii() and text.isprintable():
        visible = text
    else:
        visible = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    cleaned = " ".join(visible.split())
    if not cleaned:
        raise RefusedInput(ErrorCode.EMPTY_TEXT, "text is empty")
    return cleaned


def slot_value(name: str, raw: str, numeric: frozenset[str] | set[str] = frozenset(NUMERIC_SLOTS)) -> Any:
    """What a hub gets for a slot: numbers as numbers ("fifty percent" -> 50), the rest lower-cased."""
    if name in numeric:
        number = words_to_number(raw)
        if number is not None:
            return number
    return raw.lower()


_DURATION_SLOTS = frozenset({"hours", "minutes", "seconds"})


def part_slot(text: str, name: str, start: int, end: int, confidence: float) -> Slot | None:
    """A percent or time slot said as a part ("half", "three quarters", "half an hour"), with its
    span widened to the whole part: 50 percent, not 0.5 (a blind "set to half" must not close) and
    30 minutes, not 0.5. None: not a part; the slot's words give its value as usual."""
    if name not in PERCENT_SLOTS and name not in _DURATION_SLOTS:
        return None
    part = part_near(text, start, end)
    if part is None or start < part.start:
        return None
    if name in PERCENT_SLOTS:
        value = round(part.fraction * 100)
    elif part.of:  # "half an hour", "one and a half hours" -> 30 minutes; "half a minute" -> 30 seconds
        value, name = round(part.fraction * 60), "minutes" if part.of == "hour" else "seconds"
    else:
        return None
    return Slot(name, value, text[part.start:max(end, part.end)], part.start, max(end, part.end), confidence)


class Decoder:
    """Model outputs to intent and slots, under the runtime's rules: the confidence threshold, the
    out-of-scope class, a BIO Viterbi pass over each word's first sub-token, and each intent kept to
    its own slot types.  The export scores its PyTorch models with this same object."""

    def __init__(self, intents: list[str], tags: list[str], out_of_scope: str | None, threshold: float,
                 intent_slots: dict[str, list[str]], numeric_slots: list[str] | None = None) -> None:
        self.intents, self.tags, self.out_of_scope, self.threshold = intents, tags, out_of_scope, threshold
        self.numeric = frozenset(NUMERIC_SLOTS) | frozenset(numeric_slots or ())
        self._viterbi = BioViterbi(tags)
        self._tag_masks = intent_tag_masks(tags, intent_slots)
        self._timer_slots = {i: "minutes" in names for i, names in intent_slots.items()}
        # The one slot measured in percent an intent takes (volume_level of HassSetVolume), if one.
        self._percent_slot = {i: next(iter(PERCENT_SLOTS & set(names))) for i, names in intent_slots.items()
                              if len(PERCENT_SLOTS & set(names)) == 1}

    def __call__(self, text: str, words: list[Word], first_tokens: list[int], intent_logits: np.ndarray,
                 slot_logits: np.ndarray) -> tuple[str, float, bool, tuple[Slot, ...]]:
        probs = softmax(intent_logits.astype(np.float32))
        best = int(probs.argmax())
        intent = self.intents[best]
        confidence = float(probs[best])
        recognized = confidence >= self.threshold and intent != self.out_of_scope
        kept = [i for i, t in enumerate(first_tokens) if t >= 0]
        slots: list[Slot] = []
        if kept and recognized:
            token_logits = slot_logits[[first_tokens[i] for i in kept]].astype(np.float32)
            tag_probs = softmax(token_logits)
            path = self._viterbi(np.log(tag_probs + 1e-9), self._tag_masks.get(intent))
            for span in tags_to_spans(self.tags, path, tag_probs):
                first, last = words[kept[span.first_word]], words[kept[span.last_word]]
                raw = text[first.start:last.end]
                slots.append(part_slot(text, span.name, first.start, last.end, round(span.confidence, 4))
                             or Slot(span.name, slot_value(span.name, raw, self.numeric), raw,
                                     first.start, last.end, round(span.confidence, 4)))
            if self._timer_slots.get(intent) and not {s.name for s in slots} & _DURATION_SLOTS:
                # "set a timer for a quarter of an hour": a duration said only as a part of an hour
                slots.extend(Slot("minutes", round(p.fraction * 60), text[p.start:p.end], p.start, p.end,
                                  round(confidence, 4)) for p in parts_in(text)[:1] if p.of == "hour")
            percent = self._percent_slot.get(intent)
            if percent and percent not in {s.name for s in slots}:
                # "set the volume to a third": a level said only as a part, which the model left
                # untagged; the part's share of 100, where no other slot was found.
                slots.extend(Slot(percent, round(p.fraction * 100), text[p.start:p.end], p.start, p.end,
                                  round(confidence, 4)) for p in parts_in(text)[:1]
                             if p.of is None and all(p.end <= s.start or s.end <= p.start for s in slots))
        return intent, round(confidence, 4), recognized, tuple(slots)


@dataclass
class _Encoded:
    words: list[list[Word]]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    first_tokens: list[list[int]]


class Engine:
    def __init__(self, bundle: Bundle, session: ort.InferenceSession, tokenizer: Tokenizer,
                 responder: Responder, threshold: float, cache_size: int,
                 max_text_chars: int = MAX_TEXT_CHARS) -> None:
        self.bundle = bundle
        self.manifest = bundle.manifest
        self.session = session
        self.tokenizer = tokenizer
        self.responder = responder
        self.decoder = Decoder(self.manifest.intents, self.manifest.tags, self.manifest.out_of_scope, threshold,
                               self.manifest.intent_slots, self.manifest.numeric_slots)
        self._input_names = {i.name for i in session.get_inputs()}
        self._cache: OrderedDict[str, Parse] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = Lock()
        self.max_text_chars = max_text_chars  # [limits] max_text_chars
        # Intents that act on devices, from the manifest. Bundles built before it said so are Home
        # Assistant bundles: their actions are Home Assistant's device intents.
        self.actions = frozenset(self.manifest.actions if self.manifest.actions is not None
                                 else LEGACY_ACTIONS & set(self.manifest.intents))

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, bundle: str | Path | Bundle | None = None, *, threads: int = 2,
             optimization: str = "all", threshold: float = DEFAULT_THRESHOLD, cache_size: int = 256,
             model_file: str = "model.onnx", trusted_keys: list[str] | None = None,
             max_text_chars: int = MAX_TEXT_CHARS) -> "Engine":
        loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, trusted_keys)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = _GRAPH_LEVELS[optimization]
        options.log_severity_level = 3
        session = ort.InferenceSession(str(loaded.file(model_file)), options,
                                       providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(loaded.file("tokenizer.json")))
        # The checkpoint's tokenizer pads to a fixed 128: pad to the batch's longest instead.
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        tokenizer.enable_truncation(max_length=loaded.manifest.max_length)
        responder = Responder.from_dict(loaded.read_json("responses.json"))
        return cls(loaded, session, tokenizer, responder, threshold, cache_size, max_text_chars)

    # ---------------------------------------------------------------- stages
    def encode(self, texts: list[str]) -> _Encoded:
        words = [split_words(text) for text in texts]
        # An all-punctuation text still needs one token; [UNK] keeps shapes valid.
        pieces = [[w.text for w in ws] or ["[UNK]"] for ws in words]
        encodings = self.tokenizer.encode_batch(pieces, is_pretokenized=True)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        first = [word_first_tokens(e.word_ids, len(ws)) for e, ws in zip(encodings, words)]
        return _Encoded(words, input_ids, attention, first)

    def run(self, encoded: _Encoded) -> tuple[np.ndarray, np.ndarray]:
        feeds = {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(encoded.input_ids)
        intent_logits, slot_logits = self.session.run(None, feeds)
        return intent_logits, slot_logits

    def decode(self, text: str, words: list[Word], first_tokens: list[int],
               intent_logits: np.ndarray, slot_logits: np.ndarray) -> Parse:
        intent, confidence, recognized, slots = self.decoder(text, words, first_tokens, intent_logits, slot_logits)
        # Normalised values read better in a reply: "set to 50%", not "set to fifty%".
        values = {s.name: str(s.value) for s in slots}
        response = self.responder.render(intent if recognized else None, values)
        return Parse(text, intent, confidence, recognized, slots, response)

    # ------------------------------------------------------------ public API
    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]

    def intent_of(self, text: str) -> str | None:
        """The intent this text is taken for; None when out of scope or no usable text."""
        try:
            parse = self.parse(text)
        except RefusedInput:
            return None
        return parse.intent if parse.recognized else None

    def parse_batch(self, texts: Iterable[str]) -> list[Parse]:
        """Parse many texts in one model call; raises RefusedInput for the first bad one."""
        cleaned = [clean_text(t, self.max_text_chars) for t in texts]
        results: list[Parse | None] = [self._cache_get(t) for t in cleaned]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            batch = [cleaned[i] for i in todo]
            encoded = self.encode(batch)
            intent_logits, slot_logits = self.run(encoded)
            for row, index in enumerate(todo):
                parse = self.decode(batch[row], encoded.words[row], encoded.first_tokens[row],
                                    intent_logits[row], slot_logits[row])
                results[index] = parse
                self._cache_put(batch[row], parse)
        return [r for r in results if r is not None]

    def _cache_get(self, key: str) -> Parse | None:
        if self._cache_size <= 0:
            return None
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _cache_put(self, key: str, parse: Parse) -> None:
        if self._cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[key] = parse
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
