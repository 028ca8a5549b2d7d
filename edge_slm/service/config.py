"""Device configuration (TOML): every key optional, every unknown key or wrong type an error.

Errors name the key and the file, and fit on one line, so a service that fails
to start says why in the journal.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from edge_slm.errors import EdgeSlmError, ErrorCode

log = logging.getLogger("edge_slm.service.config")


class ConfigError(EdgeSlmError, ValueError):
    """A config that cannot be used; one line naming the key and the file."""

    default_code = ErrorCode.CONFIG_INVALID


@dataclass(frozen=True)
class SiteConfig:
    id: str = "default"
    area: str = ""  # the room this device is in (id or name): "turn on the lights" means its lights


@dataclass(frozen=True)
class HomeConfig:
    file: str = ""  # home description (YAML); reloaded on SIGHUP and when it changes


@dataclass(frozen=True)
class ModelConfig:
    bundle: str = "default"
    threads: int = 2
    confidence_threshold: float = 0.5
    # Actions on devices (turn on/off, set) need this much confidence to be published at all.
    action_threshold: float = 0.8
    optimization: str = "all"
    cache_size: int = 256
    # ed25519 public keys (base64 of the 32 raw bytes, or a file holding one) besides the shipped
    # default key; a signed bundle is always checked against them, and once set, unsigned bundles are refused.
    trusted_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    protocol: str = "5"
    topic_prefix: str = "edge-slm"
    username: str = ""
    password_file: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    client_id: str = ""
    shared_group: str = ""
    keepalive: int = 30
    session_expiry: int = 3600
    # MQTT 5 response topics a client may ask for (prefixes); empty = only under <prefix>/<site>/.
    response_topics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HermesConfig:
    enabled: bool = True
    # Hermes siteId -> the area of the home it is in, for satellites that speak Hermes: "turn on the
    # lights" from the kitchen's satellite means the kitchen's lights.
    site_areas: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeAssistantConfig:
    discovery: bool = True
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class WyomingConfig:
    enabled: bool = False  # a Wyoming intent service beside MQTT (Home Assistant's conversation agent)
    uri: str = "tcp://0.0.0.0:10400"
    zeroconf: bool = False  # announce it as _wyoming._tcp (Home Assistant then offers to add it)


@dataclass(frozen=True)
class LimitsConfig:
    max_payload_bytes: int = 65536
    max_text_chars: int = 1000
    rate_per_second: float = 20.0
    burst: int = 40
    queue_size: int = 256
    duplicate_window_s: float = 300.0  # a command id answered this recently is answered `duplicate`


@dataclass(frozen=True)
class EscalationConfig:
    enabled: bool = False
    timeout_s: float = 3.0


@dataclass(frozen=True)
class VoiceConfig:
    enabled: bool = False
    device: str = ""
    samplerate: int = 16000
    recognizer: str = "pocketsphinx"  # or "whisper", "vosk"
    vosk_model: str = ""
    whisper_model: str = ""  # a CTranslate2 Whisper folder with SHA256SUMS; empty: the installed package
    whisper_beam: int = 3  # beam width and N-best of Whisper's decoding (1: greedy)
    threads: int = 2  # the recogniser's CPU threads
    wake_phrase: str = ""
    vad_threshold: float = 0.5
    noise_suppression: int = 0  # WebRTC noise suppression 0 (off) - 4, before VAD and recognition
    auto_gain_dbfs: int = 0  # WebRTC automatic gain target, 0 (off) - 31 dB below full scale
    silence_ms: int = 600
    max_utterance_s: float = 8.0


@dataclass(frozen=True)
class ServiceConfig:
    memory_max: str = ""
    cpu_quota: str = ""
    log_level: str = "info"
    state_dir: str = ""  # answered-ids journal; empty = $STATE_DIRECTORY (systemd), else memory only

    def state_path(self) -> str:
        return self.state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0]


@dataclass(frozen=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    home: HomeConfig = field(default_factory=HomeConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    hermes: HermesConfig = field(default_factory=HermesConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    wyoming: WyomingConfig = field(default_factory=WyomingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    source: str = "<defaults>"

    def password(self) -> str:
        """The MQTT password, read when needed so it is never held in logs or reprs."""
        if not self.mqtt.password_file:
            return ""
        path = Path(self.mqtt.password_file)
        try:
            mode = path.stat().st_mode
            if mode & stat.S_IROTH:
                raise ConfigError(f"{self.source}: mqtt.password_file {path} is readable by every user; "
                                  f"chmod 600 it (or 640 with the service's group)")
            if mode & stat.S_IRGRP:
                log.warning("the MQTT password file is readable by its group", extra={"path": str(path)})
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{self.source}: mqtt.password_file cannot be read ({exc.strerror})") from exc


def _build(cls: type, table: dict[str, Any], prefix: str, file: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls) if f.name != "source"}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in names:
            raise ConfigError(f"{file}: unknown key '{prefix}{key}'")
        expected = hints[key]
        if get_origin(expected) is dict:
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{file}: '{prefix}{key}' must be a table of strings")
            values[key] = dict(value)
            continue
        if get_origin(expected) is list:
            item = get_args(expected)[0]
            if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
                raise ConfigError(f"{file}: '{prefix}{key}' must be a list of {item.__name__}")
            values[key] = list(value)
            continue
        if is_dataclass(expected):
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: '{prefix}{key}' must be a table")
            values[key] = _build(expected, value, f"{key}.", file)
            continue
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ConfigError(f"{file}: '{prefix}{key}' must be {expected.__name__}, not {type(value).__name__}")
        values[key] = value
    return cls(**values)


def _validate(config: Config) -> None:
    file = config.source
    if config.mqtt.protocol not in ("5", "3.1.1"):
        raise ConfigError(f"{file}: 'mqtt.protocol' must be \"5\" or \"3.1.1\"")
    if not 0 < config.mqtt.port < 65536:
        raise ConfigError(f"{file}: 'mqtt.port' must be 1-65535")
    for key in ("confidence_threshold", "action_threshold"):
        if not 0.0 <= getattr(config.model, key) <= 1.0:
            raise ConfigError(f"{file}: 'model.{key}' must be between 0 and 1")
    if config.home.file and not Path(config.home.file).expanduser().is_file():
        raise ConfigError(f"{file}: 'home.file' {config.home.file} does not exist")
    if config.model.threads < 1:
        raise ConfigError(f"{file}: 'model.threads' must be at least 1")
    if config.model.optimization not in ("disable", "basic", "extended", "all"):
        raise ConfigError(f"{file}: 'model.optimization' must be disable, basic, extended or all")
    if config.voice.recognizer not in ("pocketsphinx", "whisper", "vosk"):
        raise ConfigError(f"{file}: 'voice.recognizer' must be pocketsphinx, whisper or vosk")
    if not 1 <= config.voice.whisper_beam <= 10:
        raise ConfigError(f"{file}: 'voice.whisper_beam' must be 1-10")
    if config.voice.threads < 1:
        raise ConfigError(f"{file}: 'voice.threads' must be at least 1")
    # Both become parts of every topic: a wildcard there would subscribe to (and answer) other topics.
    if not config.site.id or any(ch in config.site.id for ch in "+#/"):
        raise ConfigError(f"{file}: 'site.id' must be non-empty and hold no '+', '#' or '/'")
    prefix = config.mqtt.topic_prefix
    if not prefix or any(ch in prefix for ch in "+#") or prefix.startswith(("/", "$")) or prefix.endswith("/"):
        raise ConfigError(f"{file}: 'mqtt.topic_prefix' must be non-empty, hold no '+' or '#', "
                          f"and neither start with '/' or '$' nor end with '/'")
    bundle = config.model.bundle
    if bundle != "default" and not Path(bundle).expanduser().exists():
        raise ConfigError(f"{file}: 'model.bundle' {bundle} does not exist")
    for key in ("password_file", "tls_ca", "tls_cert", "tls_key"):
        value = getattr(config.mqtt, key)
        if value and not Path(value).exists():
            raise ConfigError(f"{file}: 'mqtt.{key}' {value} does not exist")
    if config.limits.queue_size < 1 or config.limits.max_payload_bytes < 16:
        raise ConfigError(f"{file}: 'limits' values are too small")
    for topic in config.mqtt.response_topics:
        if not topic or any(ch in topic for ch in "+#") or topic.startswith("$"):
            raise ConfigError(f"{file}: 'mqtt.response_topics' entry {topic!r} must be a plain topic prefix "
                              f"(no '+', '#' or leading '$')")


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from exc
    config = _build(Config, data, "", file)
    config = Config(**{f.name: getattr(config, f.name) for f in fields(Config) if f.name != "source"},
                    source=file)
    _validate(config)
    return config
