"""Late acknowledgement: a QoS 1 command is acknowledged only once its answer has reached the broker.

With paho's manual acks the broker keeps every command it delivered until we
acknowledge it, and hands it back after a crash or a broker restart; acking only
after the PUBACK of the command's last answer means a command is never lost
between arrival and answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import paho.mqtt.client as mqtt

log = logging.getLogger("edge_slm.service.acks")


@dataclass(frozen=True)
class Delivery:
    """What to acknowledge: the packet id of a received QoS 1 message on one connection."""

    mid: int
    qos: int
    connection: int


class Acks:
    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.connection = 0
        self._waiting: dict[int, tuple[Delivery, Callable[[], None] | None]] = {}  # mid of our answer -> ack
        self._done: OrderedDict[int, None] = OrderedDict()  # PUBACKs that came before we asked
        self._lock = threading.Lock()

    def delivery(self, msg: mqtt.MQTTMessage) -> Delivery | None:
        return Delivery(msg.mid, msg.qos, self.connection) if msg.qos > 0 else None

    def connected(self) -> None:
        with self._lock:
            self.connection += 1
            # Deliveries of an older connection are void: the broker hands those commands back.
            self._waiting.clear()
            self._done.clear()

    def now(self, delivery: Delivery | None) -> None:
        if delivery is None or delivery.connection != self.connection:
            return
        try:
            self.client.ack(delivery.mid, delivery.qos)
        except Exception:  # noqa: BLE001 - a lost socket: the broker redelivers, and ids catch it
            log.warning("acknowledgement not sent", extra={"mid": delivery.mid})

    def after(self, info: mqtt.MQTTMessageInfo | None, delivery: Delivery | None,
              answered: Callable[[], None] | None = None) -> None:
        """Acknowledge ``delivery`` once ``info`` (our answer) is acknowledged by the broker, calling
        ``answered`` first: what is recorded there is true only once the answer is the broker's."""
        if delivery is None:
            return
        if info is None or info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            self._finish(delivery, answered)
            return
        with self._lock:
            if info.mid in self._done:
                del self._done[info.mid]
                ready = True
            else:
                self._waiting[info.mid] = (delivery, answered)
                ready = False
        if ready:
            self._finish(delivery, answered)

    def _finish(self, delivery: Delivery, answered: Callable[[], None] | None) -> None:
        if answered is not None:
            try:
                answered()
            except Exception:  # noqa: BLE001 - the ack must still go out
                log.exception("after-answer step failed")
        self.now(delivery)

    def on_publish(self, mid: int) -> None:
        with self._lock:
            waiting = self._waiting.pop(mid, None)
            if waiting is None:
                # The PUBACK beat the worker's bookkeeping (or the publish was not an answer).
                self._done[mid] = None
                while len(self._done) > 1024:
                    self._done.popitem(last=False)
        if waiting is not None:
            self._finish(*waiting)

    def pending(self) -> int:
        with self._lock:
            return len(self._waiting)
