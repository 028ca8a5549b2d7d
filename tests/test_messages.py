"""Every wire message reads back what it writes: from_dict(to_dict(m)) == m, and what a client sends
is decoded field by field."""

from __future__ import annotations

import pytest

from edge_slm.engine.nlu import Slot
from edge_slm.errors import ErrorCode, RefusedInput
from edge_slm.home.model import Target
from edge_slm.service.messages import (
    ErrorMessage,
    EscalationReply,
    EscalationRequest,
    Guess,
    IntentMessage,
    ModelInfo,
    NotRecognizedMessage,
    Reason,
    ResponseMessage,
    Source,
    State,
    StatusMessage,
)
from edge_slm.service.protocol import Command, decode_command, decode_hermes_query

MODEL = ModelInfo("home", "1.3.1")
SLOT = Slot("area", "kitchen", "kitchen", 16, 23, 0.98)


@pytest.mark.parametrize("message", [
    Guess("HassTurnOn", 0.9),
    MODEL,
    IntentMessage("c1", "turn off the kitchen lights", Source.MQTT, Guess("HassTurnOff", 0.99),
                  Guess("HassTurnOff", 0.99), True, (SLOT,), MODEL, 1.2, "Turned off the lights", time=1.0,
                  targets=(Target("light.k", "Kitchen", "kitchen", "light", 1.0),), area="kitchen", floor="ground",
                  unresolved=("name",), index=1, count=2),
    IntentMessage("c2", "pause", Source.VOICE, Guess(None, 0.4), Guess("HassMediaPause", 0.4), False, (), MODEL,
                  3.0, "Sorry", time=2.0, asr={"recognizer": "pocketsphinx", "rtf": 0.1}),
    ResponseMessage("c1", "Done", "HassTurnOn"),
    NotRecognizedMessage("c3", "tell me a joke", Guess("oos", 0.99), Reason.OUT_OF_SCOPE, 0, 1),
    ErrorMessage(ErrorCode.TEXT_TOO_LONG, "text is 2000 characters", "c4"),
    StatusMessage(State.ONLINE, "default", MODEL),
    StatusMessage(State.OFFLINE, "default"),
    EscalationRequest("c5", "order a pizza", "default", Guess("oos", 0.6)),
    EscalationReply("c5", "OrderPizza", 0.8, "Ordering", "big-model"),
    Command("c6", "turn on the lights", area="kitchen"),
    Command("generated", "turn on the lights", generated_id=True),
], ids=lambda m: type(m).__name__)
def test_every_message_reads_back_what_it_writes(message: object) -> None:
    data = message.to_dict()  # type: ignore[attr-defined]
    if isinstance(message, Command):
        again = Command.from_dict(data, 1000)
        assert (again.text, again.area, again.generated_id) == (message.text, message.area, message.generated_id)
        if not message.generated_id:
            assert again.id == message.id
        return
    assert type(message).from_dict(data) == message  # type: ignore[attr-defined]


def test_the_command_carries_the_room_it_was_said_in() -> None:
    command = decode_command(b'{"text": "turn on the lights", "id": "x", "area": " Kitchen "}', 4096, 100)
    assert (command.text, command.id, command.area) == ("turn on the lights", "x", "Kitchen")
    assert decode_command(b"turn on the lights", 4096, 100).area is None
    for body, code in ((b'{"text": "x", "area": 3}', ErrorCode.INVALID_FIELD),
                       (b'{"text": "x", "area": "' + b"a" * 200 + b'"}', ErrorCode.INVALID_FIELD),
                       (b'{"text": "' + b"a" * 200 + b'"}', ErrorCode.TEXT_TOO_LONG),
                       (b"\xff\xfe", ErrorCode.INVALID_UTF8), (b"[1, 2]", ErrorCode.INVALID_JSON)):
        with pytest.raises(RefusedInput) as refused:
            decode_command(body, 4096, 100)
        assert refused.value.code == code


def test_a_hermes_query_is_checked_like_a_command() -> None:
    query = decode_hermes_query(b'{"input": "turn on the lights", "siteId": "kitchen-sat", "id": "q"}', 4096, 100)
    assert (query.input, query.site_id, query.id) == ("turn on the lights", "kitchen-sat", "q")
    for body, code in ((b'{"input": 3}', ErrorCode.INVALID_HERMES), (b"[]", ErrorCode.INVALID_HERMES),
                       (b"[" * 2000, ErrorCode.INVALID_HERMES), (b"x" * 5000, ErrorCode.PAYLOAD_TOO_LARGE),
                       (b'{"input": "' + b"a" * 200 + b'", "id": "long"}', ErrorCode.TEXT_TOO_LONG)):
        with pytest.raises(RefusedInput) as refused:
            decode_hermes_query(body, 4096, 100)
        assert refused.value.code == code
