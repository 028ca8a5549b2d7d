"""Spoken commands and a virtual microphone for the voice tests (the project's own rig)."""

from edge_slm.bench.rig import alsa_mic, have_speech_tools, raw_samples, silence, speak

__all__ = ["alsa_mic", "have_speech_tools", "raw_samples", "silence", "speak"]
