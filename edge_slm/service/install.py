"""What the installer takes from a device config: the systemd drop-in (resource limits, audio access
only when voice is on) and the extras to install.

Used by ``systemd/install.sh``: ``python -m edge_slm.service.install dropin|extras CONFIG``.
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


def extras(config: Config) -> list[str]:
    """The optional parts (pip extras) the config turns on: installed with the service, so that it
    never starts into a missing module."""
    needed = []
    if config.voice.enabled:
        needed.append("voice")
        if config.voice.recognizer in ("vosk", "whisper"):
            needed.append(config.voice.recognizer)
    if config.home.file:
        needed.append("home")
    if config.wyoming.enabled:
        needed.append("wyoming")
    return needed


_COMMANDS = {"dropin": lambda config: dropin(config), "extras": lambda config: ",".join(extras(config)) + "\n"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in _COMMANDS:
        print("usage: python -m edge_slm.service.install dropin|extras CONFIG.toml", file=sys.stderr)
        return 2
    try:
        print(_COMMANDS[args[0]](load_config(args[1])), end="")
    except ConfigError as exc:
        print(f"edge-slm: config error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
