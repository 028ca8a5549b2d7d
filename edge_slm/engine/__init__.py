"""Text in, ``Parse`` out: bundle (load, verify, signatures), tokenize, run, decode, respond.

Knows nothing of MQTT, Wyoming or any wire format."""
