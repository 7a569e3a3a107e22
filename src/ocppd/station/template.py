"""Fleet templates (YAML or TOML) and scripted scenarios, validated with errors that name the field.

A template::

    url: ws://csms.example.com:9000/ocpp    # optional; --url wins
    stations:
      - id: "ACME-{n:04d}"                  # a pattern: n counts from 1 within this group
        count: 10
        ocpp: "1.6"                         # 1.6 | 2.0.1 | 2.1
        vendor: ACME
        model: Wallbox 22
        firmware: "3.2.1"
        serial: "SN{n:06d}"
        evses: [1, 1]                       # connectors per EVSE (1.6 numbers them 1..N)
        max_power_kw: 22
        password: secret                    # security profile 1 (basic auth), 2 over wss://
        ca_file: ca.pem                     # wss://: the CA that signed the CSMS certificate
        cert: "certs/{id}.pem"              # security profile 3: client certificate per station
        key: "certs/{id}.key"               # ({id}: the identity, {n}: the number in the group)
        id_tags: [04A1B2C3, 04A1B2C4]       # ISO14443 card UIDs: 8 or 14 hex digits
        settings: {heartbeat_interval: 60}  # canonical names, see settings.py
        config: {HeartbeatInterval: "60"}   # or 1.6 keys / "Component.Variable" names
        firmware_fault: install             # fail firmware updates: download | corrupt | install | keep-version
        step_delay: 1.0                     # seconds between firmware/log status steps; reboot_delay: the reboot
        signed_meter_values: true           # OCMF-signed energy readings (a test key per EVSE meter)
        meter_key_file: meter-key.pem       # or this EC P-256 private key for every meter
        tx_limit: {maxEnergy: 6000}         # 2.1: a limit the station sets on every transaction (LimitSet)
"""

from __future__ import annotations

import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ocppd.protocol.soap.wsdl import SoapVersion
from ocppd.protocol.versions import OcppVersion
from ocppd.station.metering import MeterKeyError, load_private_key
from ocppd.station.model import EV, default_id_tags
from ocppd.station.settings import _DEFAULTS, KEYS_16, VARS_2X, Settings
from ocppd.station.station import StationConfig
from ocppd.transport.tls import TlsFileError, client_context

VERSION_NAMES = {"1.6": OcppVersion.V16, "2.0.1": OcppVersion.V201, "2.1": OcppVersion.V21,
                 "ocpp1.6": OcppVersion.V16, "ocpp2.0.1": OcppVersion.V201, "ocpp2.1": OcppVersion.V21,
                 "2.0": OcppVersion.V20, "ocpp2.0": OcppVersion.V20}  # fmt: skip
# OCPP-S stations: the station model speaks 1.6, the wire the SOAP version (docs/soap.md)
SOAP_NAMES = {"1.2S": SoapVersion.V12, "1.5S": SoapVersion.V15, "1.6S": SoapVersion.V16}
TX_LIMIT_KEYS = ("maxCost", "maxEnergy", "maxTime", "maxSoC")  # 2.1 TransactionLimitType


class TemplateError(ValueError):
    """A template or scenario file is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationGroup(_Strict):
    id: str = "SIM-{n:05d}"
    count: int = Field(1, ge=1, le=1_000_000)
    ocpp: str = "1.6"
    url: str = ""  # this group's CSMS endpoint, e.g. http://host:8180/ocpp/soap for 1.xS in a mixed fleet
    vendor: str = Field("ocppd", min_length=1, max_length=50)
    model: str = Field("SimCharger", min_length=1, max_length=20)
    firmware: str = Field("1.0.0", max_length=50)
    serial: str = "SN{n:08d}"
    evses: list[int] = Field(default_factory=lambda: [1], min_length=1)
    max_power_kw: float = Field(22.0, gt=0, le=1000)
    connector_type: str = "cType2"
    password: str | None = None
    ca_file: str | None = None
    cert: str | None = None  # a pattern: {id} and {n} are replaced per station
    key: str | None = None
    id_tags: list[str] = Field(default_factory=default_id_tags, min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, str] = Field(default_factory=dict)
    ev_max_power_kw: float = Field(11.0, gt=0)
    ev_battery_kwh: float = Field(60.0, gt=0)
    # firmware updates: a fault on purpose (station/firmware.py), and the pace of the status steps and reboot
    firmware_fault: Literal["download", "corrupt", "install", "keep-version"] | None = None
    step_delay: float = Field(1.0, ge=0, le=600)
    reboot_delay: float = Field(1.0, ge=0, le=600)
    ev_iso15118: float = Field(0.0, ge=0, le=1)  # 2.0.1/2.1: share of cars sending their charging needs
    # billing evidence: OCMF-signed energy readings, the key reported as FiscalMetering.PublicKey /
    # MeterPublicKey[n] (station/metering.py)
    signed_meter_values: bool = False
    meter_key_file: str | None = None
    # 2.1 stations: a transaction limit the station sets itself (maxEnergy Wh, maxTime s, maxCost, maxSoC %)
    tx_limit: dict[str, float] | None = None

    @field_validator("tx_limit")
    @classmethod
    def _tx_limit(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, number in (value or {}).items():
            if key not in TX_LIMIT_KEYS:
                raise ValueError(f"unknown limit {key!r}; use {', '.join(TX_LIMIT_KEYS)}")
            if not number > 0 or (key in ("maxTime", "maxSoC") and number != int(number)):
                raise ValueError(f"{key} must be a positive {'whole ' if key in ('maxTime', 'maxSoC') else ''}number")
        return value

    @field_validator("ocpp")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in VERSION_NAMES and value not in SOAP_NAMES and value != "mixed":
            raise ValueError(f"unknown OCPP version {value!r}; use 1.6, 2.0, 2.0.1, 2.1, 1.2S, 1.5S, 1.6S or mixed")
        return value

    @field_validator("evses")
    @classmethod
    def _evses(cls, value: list[int]) -> list[int]:
        if any(n < 1 or n > 10 for n in value):
            raise ValueError("each EVSE has 1 to 10 connectors")
        return value

    @field_validator("id")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            value.format(n=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad id pattern {value!r}: {exc}; use e.g. SIM-{{n:05d}}") from None
        return value

    @field_validator("cert", "key")
    @classmethod
    def _file_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(id="X", n=1)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"bad file pattern {value!r}: {exc}; use e.g. certs/{{id}}.pem") from None
        return value

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name not in _DEFAULTS:
                raise ValueError(f"unknown setting {name!r}")
        return value

    @field_validator("config")
    @classmethod
    def _config(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in KEYS_16 and not _var(key):
                raise ValueError(f"unknown configuration key {key!r} (1.6 key or Component.Variable)")
        return value


class Template(_Strict):
    url: str | None = None
    stations: list[StationGroup] = Field(min_length=1)
    # OCPP-S groups: where this process serves their Charge Point service (the CSMS must reach it)
    soap_listen: str = "127.0.0.1:0"


def _var(name: str) -> str | None:
    component, _, variable = name.partition(".")
    for (c, v, _instance), spec in VARS_2X.items():
        if c == component and v == variable:
            return spec.canonical
    return None


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {exc}") from None


def _explain(path: Path | str, exc: ValidationError) -> TemplateError:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"{path}: field '{where}': {error['msg']}")
    return TemplateError("\n".join(lines))


def load_template(path: str | Path) -> Template:
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping with a 'stations' list")
    try:
        return Template.model_validate(data)
    except ValidationError as exc:
        raise _explain(path, exc) from None


def expand(template: Template, url: str | None, *, ssl_context: ssl.SSLContext | None = None,
           ca_file: str | None = None, cert: str | None = None, key: str | None = None, insecure: bool = False,
           overrides: dict[str, Any] | None = None, start: int = 0) -> list[StationConfig]:  # fmt: skip
    """One StationConfig per station; ``mixed`` versions rotate 1.6, 2.0.1, 2.1.

    TLS: ``ca_file``, ``cert`` and ``key`` (the simulator's --ca-file, --cert, --key) win over the
    group's fields of the same name; ``cert`` and ``key`` are patterns with ``{id}`` and ``{n}``, so each
    station can present its own certificate (security profile 3: CN = identity). Stations with the same
    files share one SSL context. ``ssl_context`` is used for stations without any of these files;
    ``insecure`` skips the check of the CSMS certificate. A file that cannot be used is a TemplateError.
    """
    target = url or template.url
    if not target:
        raise TemplateError("no CSMS url: give --url or 'url' in the template")
    if key and not cert:
        raise TemplateError("--key needs --cert (the client certificate)")
    for option, pattern in (("--cert", cert), ("--key", key)):
        try:
            _ = pattern.format(id="X", n=1) if pattern else None
        except (KeyError, IndexError, ValueError) as exc:
            raise TemplateError(f"{option}: bad file pattern {pattern!r}: {exc}; use e.g. certs/{{id}}.pem") from None
    rotation = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21]
    configs: list[StationConfig] = []
    seen: set[str] = set()
    contexts: dict[tuple[str | None, str | None, str | None], ssl.SSLContext] = {}
    for index, group in enumerate(template.stations):
        settings = dict(group.settings)
        for k, value in group.config.items():
            canonical = KEYS_16[k].canonical if k in KEYS_16 else _var(k)
            assert canonical is not None
            try:
                settings[canonical] = Settings.parse(canonical, value)
            except ValueError as exc:
                raise TemplateError(f"field 'config.{k}': {exc}") from None
        settings.update(overrides or {})
        group_ca = ca_file or group.ca_file
        cert_pattern, key_pattern = (cert, key) if cert else (group.cert, group.key)
        if key_pattern and not cert_pattern:
            raise TemplateError(f"field 'stations.{index}.key': needs 'cert' (the client certificate)")
        for n in range(1, group.count + 1):
            identity = group.id.format(n=n)
            if identity in seen:
                raise TemplateError(f"field 'stations.id': pattern {group.id!r} repeats identity {identity!r}")
            seen.add(identity)
            soap = SOAP_NAMES.get(group.ocpp)
            if soap is not None:
                version = OcppVersion.V16
            else:
                version = rotation[(start + len(configs)) % 3] if group.ocpp == "mixed" else VERSION_NAMES[group.ocpp]
            cert_file = cert_pattern.format(id=identity, n=n) if cert_pattern else None
            key_file = key_pattern.format(id=identity, n=n) if key_pattern else None
            context = ssl_context
            if group_ca or cert_file or insecure:
                files = (group_ca, cert_file, key_file)
                if files not in contexts:
                    contexts[files] = _client_context(identity, group_ca, cert_file, key_file, insecure)
                context = contexts[files]
            configs.append(StationConfig(
                identity=identity, url=group.url or target, version=version, soap=soap,
                soap_listen=template.soap_listen, vendor=group.vendor, model=group.model,
                serial=group.serial.format(n=n), firmware=group.firmware, evses=list(group.evses),
                max_power_w=group.max_power_kw * 1000, connector_type=group.connector_type,
                password=group.password, ssl_context=context, ca_file=group_ca, cert_file=cert_file,
                key_file=key_file, settings=settings, id_tags=list(group.id_tags),
                ev=EV(max_power_w=group.ev_max_power_kw * 1000, capacity_wh=group.ev_battery_kwh * 1000),
                firmware_fault=group.firmware_fault, step_delay=group.step_delay, reboot_delay=group.reboot_delay,
                iso15118_share=group.ev_iso15118,
                signed_meter_values=group.signed_meter_values or group.meter_key_file is not None,
                meter_key_file=_meter_key(group.meter_key_file), tx_limit=group.tx_limit,
            ))  # fmt: skip
    return configs


def _meter_key(path: str | None) -> str | None:
    """The meter key file, checked once here so a bad one stops the run with its reason."""
    if path is not None:
        try:
            load_private_key(path)
        except MeterKeyError as exc:
            raise TemplateError(str(exc)) from None
    return path


def _client_context(identity: str, ca_file: str | None, cert: str | None, key: str | None,
                    insecure: bool) -> ssl.SSLContext:  # fmt: skip
    try:
        return client_context(ca_file, cert, key, insecure=insecure)
    except TlsFileError as exc:
        what = {"ca": "CA file", "cert": "client certificate", "key": "client key"}[exc.role]
        raise TemplateError(f"station {identity}: {what}: {exc}") from None


# ---------------------------------------------------------------------------------- scenarios
StepName = Literal["wait", "plug", "unplug", "authorize", "start", "stop", "fault", "clear_fault",
                   "disconnect", "log", "wait_status"]  # fmt: skip


class Step(_Strict):
    """One scripted step; exactly one action key besides its arguments."""

    wait: float | None = Field(None, ge=0)
    plug: int | None = Field(None, ge=1)
    unplug: int | None = Field(None, ge=1)
    start: int | None = Field(None, ge=1)  # authorise id_tag and start on this connector
    stop: int | None = Field(None, ge=1)
    fault: int | None = Field(None, ge=1)
    clear_fault: int | None = Field(None, ge=1)
    disconnect: bool | None = None
    log: str | None = None
    wait_status: int | None = Field(None, ge=1)
    id_tag: str | None = None
    reason: str = "Local"
    status: str = "Charging"
    error_code: str = "GroundFailure"
    timeout: float = Field(60.0, gt=0)

    def action(self) -> str:
        names = [n for n in ("wait", "plug", "unplug", "start", "stop", "fault", "clear_fault", "disconnect",
                             "log", "wait_status") if getattr(self, n) is not None]  # fmt: skip
        if len(names) != 1:
            raise ValueError(f"a step needs exactly one action, got {names or 'none'}")
        return names[0]


class Script(_Strict):
    repeat: int = Field(1, ge=0)  # 0: forever
    stations: str = "*"  # fnmatch pattern of the identities that run it
    steps: list[Step] = Field(min_length=1)


def load_script(path: str | Path) -> Script:
    path = Path(path)
    data = _read(path)
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping with a 'steps' list")
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        raise _explain(path, exc) from None
    for i, step in enumerate(script.steps):
        try:
            step.action()
        except ValueError as exc:
            raise TemplateError(f"{path}: field 'steps.{i}': {exc}") from None
    return script
