"""Voice: microphone capture, voice activity, speech recognition biased to the bundle's domain."""
