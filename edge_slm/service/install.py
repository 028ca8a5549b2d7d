"""systemd drop-ins from a device config: resource limits, and audio access only when voice is on.

Used by ``systemd/install.sh``: ``python -m edge_slm.service.install dropin CONFIG``.
"""

from __future__ import annotations

import sys

from edge_slm.service.config import Config, ConfigError, load_config


def dropin(config: Config) -> str:
    lines = ["# Written by edge-slm's installer from " + config.source, "[Service]"]
    if config.service.memory_max:
        lines.append(f"MemoryMax={config.service.memory_max}")
    if config.service.cpu_quota:
        lines.append(f"CPUQuota={config.service.cpu_quota}")
    if config.voice.enabled:
        # The microphone: ALSA character devices only, for the audio group.
        lines += ["PrivateDevices=no", "DevicePolicy=closed", "DeviceAllow=char-alsa rw",
                  "SupplementaryGroups=audio", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "dropin":
        print("usage: python -m edge_slm.service.install dropin CONFIG.toml", file=sys.stderr)
        return 2
    try:
        print(dropin(load_config(args[1])), end="")
    except ConfigError as exc:
        print(f"edge-slm: config error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
