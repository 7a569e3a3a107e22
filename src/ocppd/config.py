"""Configuration: defaults, then a TOML file, then environment variables (``OCPPD_SECTION__KEY``).

Example file (every key optional)::

    data_dir = "./ocppd-data"
    database_url = "postgresql+psycopg://ocppd@db/ocppd"   # default: SQLite in data_dir
    log_format = "json"

    [ocpp]
    port = 9000
    versions = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]
    heartbeat_interval = 300
    unknown_stations = "accept"          # accept | pending | reject
    tls_cert = "/etc/ocppd/server.pem"   # wss:// (security profile 2; Basic auth on top)
    tls_key = "/etc/ocppd/server.key"
    tls_client_ca = "/etc/ocppd/stations-ca.pem"  # client certificates required (security profile 3)

    [[ocpp.compat]]                      # relaxations for chargers that break the schemas
    vendor = "ACME"
    model = "Wallbox 1"
    relaxations = ["truncate_long_strings", "skip_validation:MeterValues"]

    [http]
    port = 8180

Environment variables override the file: ``OCPPD_DATA_DIR``, ``OCPPD_DATABASE_URL``,
``OCPPD_OCPP__PORT=9100``, ``OCPPD_OCPP__TLS_CERT=/etc/ocppd/server.pem``, ``OCPPD_HTTP__PORT=8080``; lists
are comma-separated.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ocppd.protocol.compat import CompatProfile
from ocppd.protocol.versions import ALL_VERSIONS, OcppVersion
from ocppd.transport import tls

ENV_PREFIX = "OCPPD_"


@dataclass
class CompatRule:
    """Relaxations for one station (``station``) or one model (``vendor`` + ``model``)."""

    relaxations: list[str]
    station: str | None = None
    vendor: str | None = None
    model: str | None = None

    def matches(self, station: str, vendor: str | None, model: str | None) -> bool:
        if self.station is not None:
            return self.station == station
        return self.vendor is not None and self.vendor == vendor and (self.model in (None, model))


@dataclass
class OcppSettings:
    host: str = "0.0.0.0"
    port: int = 9000
    versions: list[str] = field(default_factory=lambda: [v.value for v in ALL_VERSIONS])
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    max_frame_size: int = 1024 * 1024
    call_timeout: float = 30.0
    heartbeat_interval: int = 300
    unknown_stations: str = "accept"
    validate: bool = True
    compat: list[CompatRule] = field(default_factory=list)
    # TLS (docs/security.md): tls_cert turns on wss:// (security profile 2, Basic auth on top);
    # tls_client_ca also requires a client certificate whose subject CN is the station identity (profile 3).
    tls_cert: str = ""  # PEM server certificate, intermediates after it
    tls_key: str = ""  # its unencrypted PEM private key; empty: the key is in tls_cert
    tls_client_ca: str = ""  # PEM CA certificate(s) that sign the stations' certificates
    tls_min_version: str = "1.2"  # 1.2 | 1.3

    @property
    def security_profile(self) -> int:
        """The highest OCPP security profile this endpoint offers: 1 (ws://), 2 (wss://) or 3 (mutual TLS)."""
        return 3 if self.tls_cert and self.tls_client_ca else 2 if self.tls_cert else 1

    def ssl_context(self) -> ssl.SSLContext | None:
        """The OCPP endpoint's server context, or None for ws://; ValueError names the setting at fault."""
        if not self.tls_cert:
            for name in ("tls_key", "tls_client_ca"):
                if getattr(self, name):
                    raise ValueError(f"ocpp.{name} is set but ocpp.tls_cert is not (the server certificate)")
            return None
        if self.tls_min_version not in tls.MIN_VERSIONS:
            raise ValueError(f"ocpp.tls_min_version must be one of {', '.join(tls.MIN_VERSIONS)}")
        try:
            return tls.server_context(self.tls_cert, self.tls_key or None, self.tls_client_ca or None,
                                      self.tls_min_version)  # fmt: skip
        except tls.TlsFileError as exc:
            setting = {"cert": "tls_cert", "key": "tls_key", "ca": "tls_client_ca"}[exc.role]
            raise ValueError(f"ocpp.{setting}: {exc}") from None

    def version_preference(self) -> list[OcppVersion]:
        out = []
        for name in self.versions:
            version = OcppVersion.from_subprotocol(name)
            if version is None:
                raise ValueError(f"ocpp.versions: unknown version {name!r}")
            out.append(version)
        return out


@dataclass
class HttpSettings:
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8180
    public_metrics: bool = True  # /metrics and /health reachable without credentials
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str = ""


@dataclass
class Settings:
    data_dir: str = "./ocppd-data"
    database_url: str = ""
    log_level: str = "INFO"
    log_format: str = "text"  # text | json
    message_log_retention_days: float = 7.0
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'ocppd.db'}"

    def compat_profile(self, station: str, vendor: str | None, model: str | None) -> CompatProfile:
        names: list[str] = []
        for rule in self.ocpp.compat:
            if rule.matches(station, vendor, model):
                names.extend(rule.relaxations)
        return CompatProfile.parse(names) if names else CompatProfile()

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if self.ocpp.unknown_stations not in ("accept", "pending", "reject"):
            raise ValueError("ocpp.unknown_stations must be accept, pending or reject")
        self.ocpp.version_preference()
        for rule in self.ocpp.compat:
            CompatProfile.parse(rule.relaxations)
        self.ocpp.ssl_context()  # the files exist, parse, and the key matches the certificate
        if self.log_format not in ("text", "json"):
            raise ValueError("log_format must be text or json")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin is list:
        (item,) = get_args(hint)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        if is_dataclass(item):
            return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return [_coerce(v, item, where) for v in value]
    if hint is bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if hint in (int, float):
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if hint is str or hint == (str | None):
        return None if value is None else str(value)
    return value


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown setting(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        kwargs[name] = _build(hint, value, key) if is_dataclass(hint) else _coerce(value, hint, key)
    return cls(**kwargs)


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults < file < environment. Raises ValueError with the offending key on bad input."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    path = path or env.get("OCPPD_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == "OCPPD_CONFIG":
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    settings: Settings = _build(Settings, data, "")
    settings.validate()
    return settings
