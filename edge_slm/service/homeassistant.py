"""Home Assistant MQTT discovery: the device and its entities, retained.

Entities read our own topics (status, intent) through value templates, so the
daemon publishes nothing twice.
"""

from __future__ import annotations

from typing import Any

from edge_slm import __version__
from edge_slm.service.mqtt import Topics

STATUS_TOPIC = "homeassistant/status"


def discovery_messages(topics: Topics, prefix: str, model_name: str) -> list[tuple[str, dict[str, Any]]]:
    node = f"edge_slm_{topics.site}".replace("-", "_")
    device = {"identifiers": [node], "name": f"edge-slm {topics.site}", "manufacturer": "edge-slm",
              "model": model_name, "sw_version": __version__}
    availability = {"availability_topic": topics.status, "availability_template": "{{ value_json.state }}",
                    "payload_available": "online", "payload_not_available": "offline"}
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("binary_sensor", "status", {
            "name": "Status", "state_topic": topics.status, "value_template": "{{ value_json.state }}",
            "payload_on": "online", "payload_off": "offline", "device_class": "connectivity",
            "entity_category": "diagnostic"}),
        ("sensor", "last_intent", {
            "name": "Last intent", "state_topic": topics.intent, "icon": "mdi:head-lightbulb",
            "value_template": "{{ value_json.intent.name }}",
            "json_attributes_topic": topics.intent,
            "json_attributes_template": "{{ {'slots': value_json.slots, 'confidence': value_json.intent.confidence} | tojson }}",
            **availability}),
        ("sensor", "last_command", {
            "name": "Last command", "state_topic": topics.intent, "icon": "mdi:microphone-message",
            "value_template": "{{ value_json.text[:250] }}", **availability}),
    ]
    messages = []
    for component, key, config in entities:
        config = dict(config, unique_id=f"{node}_{key}", object_id=f"{node}_{key}", device=device)
        messages.append((f"{prefix}/{component}/{node}/{key}/config", config))
    return messages
