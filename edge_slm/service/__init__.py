"""The daemon and its wire protocols: config, MQTT, Hermes, Home Assistant discovery, limits."""
