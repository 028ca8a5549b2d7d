"""Home Assistant MQTT discovery: the device, its entities and device triggers, retained.

Entities read our own topics (status, intent) through value templates, so the daemon publishes
nothing twice. What automations use: an ``event`` entity that fires once per understood action
(event type = intent, with slots and targets as attributes), a device trigger per intent, and a
``text`` entity that sends what is typed into it as a command.
"""

from __future__ import annotations

from typing import Any

from edge_slm import __version__
from edge_slm.service.mqtt import Topics

STATUS_TOPIC = "homeassistant/status"


# The event's attributes: what an automation needs to act (HA keeps every key but event_type).
_EVENT_TEMPLATE = ("{{ {'event_type': value_json.intent.name, 'text': value_json.text, 'id': value_json.id, "
                   "'slots': value_json.slots, 'targets': value_json.get('targets', []), "
                   "'area': value_json.get('area'), 'floor': value_json.get('floor'), "
                   "'index': value_json.index, 'count': value_json.count, 'response': value_json.response} "
                   "| tojson }}")


def discovery_messages(topics: Topics, prefix: str, model_name: str,
                       intents: tuple[str, ...] = ()) -> list[tuple[str, dict[str, Any]]]:
    """``intents``: the bundle's intents (its out-of-scope label left out), the event's types."""
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
    if intents:
        entities.append(("event", "intent", {
            "name": "Intent", "state_topic": topics.intent, "event_types": list(intents),
            "value_template": _EVENT_TEMPLATE, "icon": "mdi:account-voice", **availability}))
    entities.append(("text", "command", {
        "name": "Command", "command_topic": topics.command, "icon": "mdi:keyboard",
        # The daemon reads JSON commands; tojson escapes whatever was typed.
        "command_template": "{{ {'text': value} | tojson }}", "max": 255, "mode": "text",
        "state_topic": topics.intent, "value_template": "{{ value_json.text[:255] }}", **availability}))
    messages = []
    for component, key, config in entities:
        config = dict(config, unique_id=f"{node}_{key}", object_id=f"{node}_{key}", device=device)
        messages.append((f"{prefix}/{component}/{node}/{key}/config", config))
    for intent in intents:
        # "When edge-slm <site> understood HassTurnOn" in the automation editor's device triggers.
        messages.append((f"{prefix}/device_automation/{node}/{intent.lower()}/config", {
            "automation_type": "trigger", "topic": topics.intent, "type": "intent", "subtype": intent,
            "payload": intent, "value_template": "{{ value_json.intent.name }}", "device": device}))
    return messages
