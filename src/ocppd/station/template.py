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
        password: secret                    # security profile 1 (basic auth)
        id_tags: [TAG1, TAG2]
        settings: {heartbeat_interval: 60}  # canonical names, see settings.py
        config: {HeartbeatInterval: "60"}   # or 1.6 keys / "Component.Variable" names
"""

from __future__ import annotations

import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ocppd.protocol.versions import OcppVersion
from ocppd.station.model import EV
from ocppd.station.settings import _DEFAULTS, KEYS_16, VARS_2X, Settings
from ocppd.station.station import StationConfig

VERSION_NAMES = {"1.6": OcppVersion.V16, "2.0.1": OcppVersion.V201, "2.1": OcppVersion.V21,
                 "ocpp1.6": OcppVersion.V16, "ocpp2.0.1": OcppVersion.V201, "ocpp2.1": OcppVersion.V21}  # fmt: skip


class TemplateError(ValueError):
    """A template or scenario file is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationGroup(_Strict):
    id: str = "SIM-{n:05d}"
    count: int = Field(1, ge=1, le=1_000_000)
    ocpp: str = "1.6"
    vendor: str = Field("ocppd", min_length=1, max_length=50)
    model: str = Field("SimCharger", min_length=1, max_length=20)
    firmware: str = Field("1.0.0", max_length=50)
    serial: str = "SN{n:08d}"
    evses: list[int] = Field(default_factory=lambda: [1], min_length=1)
    max_power_kw: float = Field(22.0, gt=0, le=1000)
    connector_type: str = "cType2"
    password: str | None = None
    id_tags: list[str] = Field(default_factory=lambda: [f"TAG{i:04d}" for i in range(1, 51)], min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, str] = Field(default_factory=dict)
    ev_max_power_kw: float = Field(11.0, gt=0)
    ev_battery_kwh: float = Field(60.0, gt=0)

    @field_validator("ocpp")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in VERSION_NAMES and value != "mixed":
            raise ValueError(f"unknown OCPP version {value!r}; use 1.6, 2.0.1, 2.1 or mixed")
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
           overrides: dict[str, Any] | None = None, start: int = 0) -> list[StationConfig]:  # fmt: skip
    """One StationConfig per station; ``mixed`` versions rotate 1.6, 2.0.1, 2.1."""
    target = url or template.url
    if not target:
        raise TemplateError("no CSMS url: give --url or 'url' in the template")
    rotation = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21]
    configs: list[StationConfig] = []
    seen: set[str] = set()
    for group in template.stations:
        settings = dict(group.settings)
        for key, value in group.config.items():
            canonical = KEYS_16[key].canonical if key in KEYS_16 else _var(key)
            assert canonical is not None
            try:
                settings[canonical] = Settings.parse(canonical, value)
            except ValueError as exc:
                raise TemplateError(f"field 'config.{key}': {exc}") from None
        settings.update(overrides or {})
        for n in range(1, group.count + 1):
            identity = group.id.format(n=n)
            if identity in seen:
                raise TemplateError(f"field 'stations.id': pattern {group.id!r} repeats identity {identity!r}")
            seen.add(identity)
            version = rotation[(start + len(configs)) % 3] if group.ocpp == "mixed" else VERSION_NAMES[group.ocpp]
            configs.append(StationConfig(
                identity=identity, url=target, version=version, vendor=group.vendor, model=group.model,
                serial=group.serial.format(n=n), firmware=group.firmware, evses=list(group.evses),
                max_power_w=group.max_power_kw * 1000, connector_type=group.connector_type,
                password=group.password, ssl_context=ssl_context, settings=settings, id_tags=list(group.id_tags),
                ev=EV(max_power_w=group.ev_max_power_kw * 1000, capacity_wh=group.ev_battery_kwh * 1000),
            ))  # fmt: skip
    return configs


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
