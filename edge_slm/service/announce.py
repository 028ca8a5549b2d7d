"""Announce the Wyoming service over zeroconf (``_wyoming._tcp.local.``), the way Home Assistant
finds Wyoming services on the LAN: it then offers edge-slm under Settings > Devices & services.

Optional (``[wyoming] zeroconf``, off by default: a locked-down unit need not advertise itself)
and needs the ``zeroconf`` package.
"""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from edge_slm.errors import EdgeSlmError, ErrorCode

log = logging.getLogger("edge_slm.service.announce")

SERVICE_TYPE = "_wyoming._tcp.local."


def lan_address() -> str:
    """The address other hosts reach this one at: the source address of a route to the mDNS group
    (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("224.0.0.251", 5353))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class Announcement:
    """Registered on ``start``, withdrawn on ``stop`` (a goodbye packet, so Home Assistant forgets it)."""

    def __init__(self, uri: str, name: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "tcp" or parts.port is None:
            raise EdgeSlmError(f"zeroconf announces tcp:// services only, not {uri}", ErrorCode.CONFIG_INVALID)
        host = parts.hostname or "0.0.0.0"
        self.address = lan_address() if host in ("0.0.0.0", "") else host
        self.port = parts.port
        self.name = name
        self._zeroconf: Any = None
        self._info: Any = None

    def start(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            raise EdgeSlmError("[wyoming] zeroconf = true needs the zeroconf package "
                               "(pip install 'edge-slm[wyoming]')", ErrorCode.CONFIG_INVALID) from None
        self._info = ServiceInfo(SERVICE_TYPE, f"{self.name}.{SERVICE_TYPE}",
                                 addresses=[socket.inet_aton(self.address)], port=self.port,
                                 server=f"{socket.gethostname()}.local.", properties={"program": "edge-slm"})
        self._zeroconf = Zeroconf(interfaces=[self.address])
        self._zeroconf.register_service(self._info)
        log.info("wyoming service announced", extra={"name": self.name, "address": f"{self.address}:{self.port}"})

    def stop(self) -> None:
        if self._zeroconf is not None:
            self._zeroconf.unregister_service(self._info)
            self._zeroconf.close()
            self._zeroconf = None
