"""``edge-slm bench``: runtime, MQTT and voice benchmarks, and what they need (PyTorch baseline, virtual microphone)."""
