"""Configuration: defaults, then a TOML file, then environment variables (``OCPPD_SECTION__KEY``).

The file is found the same way from every folder (:func:`config_file`): ``--config FILE``, else
``$OCPPD_CONFIG``, else ``$XDG_CONFIG_HOME/ocppd/ocppd.toml`` (``~/.config/ocppd/ocppd.toml``), else
``/etc/ocppd/ocppd.toml``; none of them is fine (defaults). The default data directory is
``$XDG_DATA_HOME/ocppd`` (``~/.local/share/ocppd``), never the current folder; a relative ``data_dir``
in a file is relative to that file.

Example file (every key optional)::

    data_dir = "/var/lib/ocppd"
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

    [transactions]
    abandoned_after = 120                # s to continue an open transaction after a reboot
    on_block = "remote_stop"             # none | remote_stop | deauthorize

Environment variables override the file: ``OCPPD_DATA_DIR``, ``OCPPD_DATABASE_URL``,
``OCPPD_OCPP__PORT=9100``, ``OCPPD_OCPP__TLS_CERT=/etc/ocppd/server.pem``, ``OCPPD_HTTP__PORT=8080``; lists
are comma-separated. Checking stays strict where a variable can only mean a setting: a section
variable (``OCPPD_SECTION__KEY``) with an unknown section or key, or a bad value, is an error. Other
``OCPPD_*`` variables are not settings: the documented ones (:data:`NON_SETTING_VARIABLES`) are used by
the commands that name them, any other is ignored with a warning (``settings.warnings``).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ocppd.protocol.compat import CompatProfile
from ocppd.protocol.versions import ALL_VERSIONS, OcppVersion
from ocppd.transport import tls

ENV_PREFIX = "OCPPD_"
# OCPPD_* variables that are not settings, and who reads them.
NON_SETTING_VARIABLES = {
    "OCPPD_CONFIG": "the configuration file",
    "OCPPD_USER_PASSWORD": "the password for `ocppd users add`",
    "OCPPD_TEST_PG_URL": "the PostgreSQL server of the test suite",
}
SYSTEM_CONFIG_FILE = Path("/etc/ocppd/ocppd.toml")


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def default_data_dir() -> str:
    """``$XDG_DATA_HOME/ocppd``: the same data directory whichever folder a command runs in."""
    return str(_xdg("XDG_DATA_HOME", ".local/share") / "ocppd")


def user_config_file() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "ocppd" / "ocppd.toml"


def config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    """The configuration file to read and why: the option, $OCPPD_CONFIG, or the first default that exists."""
    if path:
        return Path(path), "--config"
    if env.get("OCPPD_CONFIG"):
        return Path(env["OCPPD_CONFIG"]), "OCPPD_CONFIG"
    for candidate in (user_config_file(), SYSTEM_CONFIG_FILE):
        if candidate.is_file():
            return candidate, "default location"
    return None, "no file found, defaults"


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
class ServerTlsSettings:
    """The TLS settings a listener shares (``ocpp.tls_*``, ``http.tls_*``; docs/security.md)."""

    tls_cert: str = ""  # PEM server certificate, intermediates after it; set: the listener speaks only TLS
    tls_key: str = ""  # its unencrypted PEM private key; empty: the key is in tls_cert
    tls_client_ca: str = ""  # PEM CA certificate(s) that sign the stations' certificates
    tls_min_version: str = "1.2"  # 1.2 | 1.3
    tls_crl: str = ""  # PEM or DER CRL of tls_client_ca, checked in the handshake

    def server_ssl_context(
        self,
        section: str,
        trust_pem: str = "",
        *,
        extra_certs: list[tuple[str, str | None]] | None = None,
        ciphers: str = "",
        needs_cert: tuple[str, ...] = (),
        crl_pem: str = "",
    ) -> ssl.SSLContext | None:
        """The listener's server context, or None without tls_cert; ValueError names ``section.setting``.

        Client certificates are asked for but optional at the TLS layer (per-station security profiles
        decide); ``crl_pem``: the built-in CA's CRL, checked in the handshake next to tls_crl.
        """
        if not self.tls_cert:
            for name in ("tls_key", "tls_client_ca", "tls_crl", *needs_cert):
                if getattr(self, name):
                    raise ValueError(f"{section}.{name} is set but {section}.tls_cert is not (the server certificate)")
            return None
        if self.tls_min_version not in tls.MIN_VERSIONS:
            raise ValueError(f"{section}.tls_min_version must be one of {', '.join(tls.MIN_VERSIONS)}")
        try:
            return tls.server_context(self.tls_cert, self.tls_key or None, self.tls_client_ca or None,
                                      self.tls_min_version, trust_pem=trust_pem, client_certificates="optional",
                                      ciphers=ciphers or tls.DEFAULT_SERVER_CIPHERS,
                                      extra_certs=extra_certs or (), crl_file=self.tls_crl or None,
                                      # OpenSSL refuses a leaf whose issuer has no CRL: the built-in CA's
                                      # CRL is checked in the handshake only if tls_client_ca has its own
                                      crl_pem=crl_pem if self.tls_crl or not self.tls_client_ca else "")  # fmt: skip
        except tls.TlsFileError as exc:
            setting = {"cert": "tls_cert", "key": "tls_key", "ca": "tls_client_ca", "ciphers": "tls_ciphers",
                       "extra_cert": "tls_extra_cert", "extra_key": "tls_extra_key",
                       "crl": "tls_crl"}[exc.role]  # fmt: skip
            raise ValueError(f"{section}.{setting}: {exc}") from None


@dataclass
class OcppSettings(ServerTlsSettings):
    host: str = "0.0.0.0"
    port: int = 9000
    versions: list[str] = field(default_factory=lambda: [v.value for v in ALL_VERSIONS])
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    max_frame_size: int = 1024 * 1024
    call_timeout: float = 30.0
    heartbeat_interval: int = 300
    reset_observe_s: float = 300.0  # a reset without a new boot within this is "not_observed" (resets.py)
    unknown_stations: str = "accept"
    # Stations whose live connection a new one may replace without authenticating (no password, not
    # profile 3); "*" for all. Default: none -- a takeover is refused with 409 (docs/security.md).
    replace_unauthenticated: list[str] = field(default_factory=list)
    validate: bool = True
    compat: list[CompatRule] = field(default_factory=list)
    # Back-pressure per connection (docs/architecture.md, process model): at most this many calls of one
    # station are handled at once (OCPP: one at a time; a few more pass), and a station that leaves our
    # answers unread this many seconds is disconnected.
    max_calls_in_flight: int = 4
    write_stall_timeout: float = 30.0
    # TLS (docs/security.md): the tls_* fields of ServerTlsSettings. tls_cert turns on wss:// (security
    # profile 2, Basic auth on top); tls_client_ca trusts client certificates (profile 3).
    # A second server certificate of the other key type (an RSA one next to an ECDSA one, or the other
    # way round): clients get the one their cipher suite needs (OCA A_04: both kinds of suites).
    tls_extra_cert: str = ""
    tls_extra_key: str = ""
    tls_ciphers: str = ""  # OpenSSL cipher list for TLS 1.2; empty: tls.DEFAULT_SERVER_CIPHERS
    # The security profile required of a station that has none stored (docs/security.md): -1 = 3 when
    # tls_client_ca is set (every station needs a certificate), else 0 (a stored password is still required).
    default_security_profile: int = -1
    # With TLS on, a second, plain ws:// port for profile 0/1 stations (0: none). Per-station profiles
    # still apply: a profile 2/3 station is refused there (401), as TLS is what those profiles need.
    plain_port: int = 0
    # Basic-auth password rotation and profile upgrades (docs/security.md)
    password_switch_over_s: float = 300.0  # the old password stays valid this long after a change
    authorization_key_encoding: str = "hex"  # 1.6 AuthorizationKey: hex (the whitepaper) | plain; per station: attrs
    csms_url: str = ""  # what stations are told to connect to (2.x SetNetworkProfile ocppCsmsUrl)
    profile_upgrade_timeout_s: float = 300.0  # a profile upgrade not confirmed by a reconnect within this is reported

    def default_profile(self) -> int:
        if self.default_security_profile >= 0:
            return self.default_security_profile
        return 3 if self.tls_client_ca else 0

    @property
    def security_profile(self) -> int:
        """The highest OCPP security profile this endpoint offers: 1 (ws://), 2 (wss://) or 3 (mutual TLS)."""
        return 3 if self.tls_cert and self.tls_client_ca else 2 if self.tls_cert else 1

    def ssl_context(self, trust_pem: str = "", crl_pem: str = "") -> ssl.SSLContext | None:
        """The OCPP endpoint's server context, or None for ws://; ValueError names the setting at fault.

        ``trust_pem``: the built-in CA's certificates, trusted for station certificates next to
        tls_client_ca; ``crl_pem`` its CRL. Client certificates are asked for but optional at the TLS
        layer; each station's security profile decides whether it needs one.
        """
        extra = [(self.tls_extra_cert, self.tls_extra_key or None)] if self.tls_extra_cert else []
        return self.server_ssl_context("ocpp", trust_pem, extra_certs=extra, ciphers=self.tls_ciphers,
                                       needs_cert=("tls_extra_cert", "tls_extra_key"), crl_pem=crl_pem)  # fmt: skip

    def version_preference(self) -> list[OcppVersion]:
        out = []
        for name in self.versions:
            version = OcppVersion.from_subprotocol(name)
            if version is None:
                raise ValueError(f"ocpp.versions: unknown version {name!r}")
            out.append(version)
        return out


@dataclass
class CaSettings:
    """The built-in certificate authority and the CSR checks (docs/security.md, "Certificate authority")."""

    enabled: bool = True  # sign SignCertificate CSRs; the TLS port trusts what it issued
    dir: str = ""  # where the CA's files live; default <data_dir>/ca
    organization: str = "ocppd"  # O of the CA certificates the CA creates
    # Operator-provided CA (instead of generated files): a sub-CA PEM (intermediates after it) and its key.
    station_ca_cert: str = ""
    station_ca_key: str = ""
    root_cert: str = ""  # the root above station_ca_cert, if that file does not end with it
    v2g_ca_cert: str = ""  # signs V2GCertificate (ISO 15118 SECC) CSRs
    v2g_ca_key: str = ""
    v2g_root_cert: str = ""
    certificate_days: int = 365
    crl_url: str = (
        ""  # CRL distribution point written into issued certificates (e.g. http://HOST:8180/ca/station-ca.crl)
    )
    # CSR checks
    csr_organization: str = ""  # required O of station CSRs (the CPO name); empty: not checked
    csr_check_common_name: bool = True  # CN = station identity
    octt_compat: bool = False  # skip the O and CN checks: OCTT's CSRs carry neither (oca-test-cases.md, finding 4)
    min_rsa_bits: int = 2048
    min_ec_bits: int = 224
    max_csr_bytes: int = 5500
    # Who signs: "builtin", or "http" (POST the CSR to provider_url; see docs/security.md)
    provider: str = "builtin"
    provider_url: str = ""
    sign_timeout: float = 20.0  # seconds the provider may take before the request is recorded as failed
    # Plug & charge: OCSP (GetCertificateStatus, contract authorization) and the contract-certificate
    # provider for Get15118EVCertificate (a CPS / Mobility Operator endpoint; docs/security.md)
    ocsp_timeout: float = 5.0
    # The certificates every station should have (besides the built-in CA's roots): "TYPE:path" entries,
    # TYPE = CSMSRootCertificate | ManufacturerRootCertificate | V2GRootCertificate | MORootCertificate
    station_roots: list[str] = field(default_factory=list)
    firmware_signing_cert: str = ""  # your own firmware-signing certificate (PEM) and key; default: generated
    firmware_signing_key: str = ""
    firmware_max_bytes: int = 2 * 1024**3  # images the CSMS downloads to sign
    firmware_download_timeout: float = 300.0
    security_event_retention_days: float = 365.0  # SecurityEventNotifications kept this long; 0: forever
    expiry_warning_days: int = 30  # warn (log, event) about installed and issued certificates
    expiry_check_interval_s: float = 3600.0
    auto_renew_days: int = 0  # ask a station for a new CSR this many days before its certificate expires; 0: off
    contract_provider_url: str = ""
    contract_provider_timeout: float = 10.0


@dataclass
class HttpSettings(ServerTlsSettings):
    """The dashboard/API/SOAP listener; tls_* (ServerTlsSettings) make it HTTPS (docs/security.md)."""

    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8180
    public_metrics: bool = True  # /metrics and /health reachable without credentials
    # Slow or idle clients must never hold the port (http_limits.py): at most this many connections,
    # a request head within header_timeout s, its body within body_timeout s, idle keep-alive 5 s.
    max_connections: int = 512
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str = ""


# Marks a field that records where the settings came from: not a setting (not read from files or env).
INTERNAL = {"internal": True}


BLOCK_ACTIONS = ("none", "remote_stop", "deauthorize")


@dataclass
class TransactionSettings:
    """How the CSMS looks after transactions and tokens (docs/transactions.md)."""

    # Seconds a station has, after a BootNotification (or after reporting a connector Available), to
    # continue an open transaction before the CSMS closes it as abandoned.
    abandoned_after: float = 120.0
    # May a token be in several live transactions at once, unless the token or its group says otherwise?
    concurrent_tx: bool = False
    # What blocking a token does to its running transactions: none, remote_stop (RemoteStop /
    # RequestStopTransaction), deauthorize (2.x: idTokenInfo Blocked on the next TransactionEvent;
    # 1.6 has no such answer, so it gets a RemoteStop).
    on_block: str = "none"
    # 2.0.1 MasterPassGroupId: tokens of this group may stop any transaction and start none.
    master_pass_group: str = ""


@dataclass
class BillingSettings:
    """Cost while charging (docs/billing.md)."""

    # 2.x: send CostUpdated with the running cost of each priced transaction this often (0: never)
    cost_update_interval_s: float = 60.0
    # 2.x: the tariff's text goes to the driver as idTokenInfo.personalMessage in this language first
    language: str = "en"


@dataclass
class SmartSettings:
    """Smart charging and site load balancing (docs/smart-charging.md)."""

    enabled: bool = True  # balance the stations of configured sites
    sites_file: str = ""  # TOML file with [[node]] tables; replaces the stored limit tree at start
    interval_s: float = 30.0  # a full run at least this often (events trigger runs in between)
    debounce_s: float = 0.3  # events within this time share one run
    min_a: float = 6.0  # the least current an EV is given, or nothing
    max_a: float = 32.0  # an EV's maximum per phase when nothing better is known
    hysteresis_a: float = 1.0  # smaller changes are not sent ...
    hysteresis_hold_s: float = 30.0  # ... until the EVSE's last change is this old
    min_interval_s: float = 10.0  # an EVSE's allocation rises at most this often
    rotation_s: float = 900.0  # when capacity is short, an admitted EV keeps its turn this long
    settle_s: float = 60.0  # an EV drawing less than allocated for this long gives the rest away
    lease_s: float = 900.0  # the balancer's TxProfiles last this long unless renewed (then: the fallback)
    stack_level: int = 6  # reserved: TxProfile and fallback TxDefault here, EVSE TxDefault one above
    retries: int = 2  # refused profiles before a station is excluded (its worst case reserved)

    def validate(self) -> None:
        for name in ("interval_s", "lease_s", "max_a", "min_a"):
            if getattr(self, name) <= 0:
                raise ValueError(f"smart.{name} must be positive")
        if self.min_a > self.max_a:
            raise ValueError("smart.min_a must not be above smart.max_a")
        if self.stack_level < 0:
            raise ValueError("smart.stack_level must not be negative")
        if self.sites_file and not Path(self.sites_file).is_file():
            raise ValueError(f"smart.sites_file: {self.sites_file} does not exist")


@dataclass
class OscpGroupSettings:
    """One OSCP group mapped onto a limit-tree node (docs/smart-charging.md#oscp-20)."""

    group_id: str = ""
    node: str = ""  # a site or sub-circuit of the limit tree
    fallback_amps: float = 0.0  # per phase while the capacity provider is silent (0: none configured)
    fallback_watts: float = 0.0


@dataclass
class OscpSettings:
    """OSCP 2.0: ocppd as the Flexibility Provider of its sites (docs/smart-charging.md#oscp-20)."""

    enabled: bool = False  # serve /oscp/fp/2.0 on the HTTP server and talk to registered peers
    public_url: str = ""  # how peers reach this server's HTTP port, e.g. https://csms.example.com
    heartbeat_interval_s: int = 60  # the interval ocppd asks its capacity provider to send heartbeats at
    silent_after_intervals: float = 2.0  # no heartbeat for this many intervals: the peer is silent
    measurements_interval_s: float = 60.0  # UpdateGroupMeasurements this often
    compliance_margin: float = 0.02  # a group drawing more than its capacity by this fraction ...
    compliance_after_s: float = 10.0  # ... for this long gets a GroupCapacityComplianceError sent
    request_timeout_s: float = 10.0
    groups: list[OscpGroupSettings] = field(default_factory=list)  # replace the stored mapping at start

    def validate(self) -> None:
        if self.enabled and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("oscp.public_url: an http:// or https:// URL is required with oscp.enabled")
        for name in ("heartbeat_interval_s", "measurements_interval_s", "request_timeout_s", "silent_after_intervals"):
            if not getattr(self, name) > 0:
                raise ValueError(f"oscp.{name} must be positive")
        seen: set[str] = set()
        for i, g in enumerate(self.groups):
            if not g.group_id or not g.node:
                raise ValueError(f"oscp.groups[{i}]: group_id and node are required")
            if g.group_id in seen:
                raise ValueError(f"oscp.groups[{i}]: group {g.group_id!r} given twice")
            seen.add(g.group_id)
            if g.fallback_amps < 0 or g.fallback_watts < 0:
                raise ValueError(f"oscp.groups[{i}]: a fallback cannot be negative")


@dataclass
class StationGroupSettings:
    """Settings the CSMS applies after an accepted boot to the stations of one group (docs/provisioning.md)."""

    name: str = "default"
    stations: list[str] = field(default_factory=lambda: ["*"])  # station id patterns (fnmatch: *, ?, [..])
    vendor: str = ""  # and, when given, only this vendor (as in BootNotification) ...
    model: str = ""  # ... and model
    heartbeat_interval: int = 0  # seconds; 0: leave the station's own
    meter_sample_interval: int = 0  # seconds between meter values during a transaction
    clock_aligned_interval: int = 0  # seconds between clock-aligned meter values
    measurands: list[str] = field(default_factory=list)  # sampled during a transaction
    configuration: dict[str, str] = field(default_factory=dict)  # 1.6 keys, verbatim
    variables: dict[str, str] = field(default_factory=dict)  # 2.x "Component.Variable", verbatim


@dataclass
class ProvisioningSettings:
    """What the CSMS does by itself right after a station's BootNotification is answered Accepted.

    Both steps are off by default: conformance tools (and careful operators) expect no message the
    scenario did not ask for. Nothing is sent later on."""

    read_configuration: bool = False  # 1.6 GetConfiguration (all keys) / 2.x GetBaseReport FullInventory
    apply_settings: bool = False  # the first matching group's settings (1.6 ChangeConfiguration / 2.x SetVariables)
    groups: list[StationGroupSettings] = field(default_factory=list)

    def validate(self) -> None:
        for i, group in enumerate(self.groups):
            for name in ("heartbeat_interval", "meter_sample_interval", "clock_aligned_interval"):
                if getattr(group, name) < 0:
                    raise ValueError(f"provisioning.groups[{i}].{name} must not be negative")
            for key in group.variables:
                if "." not in key:
                    raise ValueError(f"provisioning.groups[{i}].variables: {key!r} is not Component.Variable")


@dataclass
class FileSettings:
    """Files stations fetch from or upload to ocppd (docs/device-management.md)."""

    public_url: str = ""  # how stations reach the HTTP port, e.g. https://csms.example.com; "": http://host:port
    max_log_bytes: int = 100 * 1024 * 1024  # a log / diagnostics upload larger than this is refused (413)
    upload_token_ttl_s: float = 86400.0  # an upload URL works this long after the request
    max_firmware_bytes: int = 1024 * 1024 * 1024  # an image upload larger than this is refused (413)
    download_token_ttl_s: float = 7 * 86400.0  # a firmware URL works this long after the update was sent


@dataclass
class AlertSettings:
    """Alerts and raw event retention (docs/device-management.md)."""

    offline_margin_s: float = 60.0  # offline: silent for the heartbeat interval plus this
    max_new_per_minute: int = 30  # new alerts a station may open a minute; past it, one Storm alert counts them
    event_retention_days: float = (
        30.0  # raw station events (NotifyEvent, status reports...) and cleared alerts; 0: forever
    )


@dataclass
class SoapSettings:
    """OCPP-S (1.2, 1.5, 1.6 over SOAP; docs/soap.md)."""

    enabled: bool = True
    path: str = "/ocpp/soap"  # the Central System service URL path, for every OCPP-S version
    port: int = 0  # 0: served by the HTTP server (http.port); otherwise its own listener on soap.host
    host: str = "0.0.0.0"
    max_body: int = 1024 * 1024  # bytes, after decompression
    read_timeout: float = 30.0  # seconds for a request body to arrive; slower clients get 408
    # PEM CA(s) that sign the stations' own https:// Charge Point services ocppd calls; empty: the
    # system's CAs. The station's certificate and host name are always checked.
    station_ca: str = ""

    def client_verify(self) -> ssl.SSLContext | bool:
        """What ocppd's calls to stations verify their certificate with; ValueError names soap.station_ca."""
        if not self.station_ca:
            return True
        try:
            return tls.client_context(self.station_ca)
        except tls.TlsFileError as exc:
            raise ValueError(f"soap.station_ca: {exc}") from None


@dataclass
class LocalControllerSettings:
    """``ocppd local-controller``: stations connect here, each is relayed to the CSMS (docs/smart-charging.md)."""

    host: str = "0.0.0.0"
    port: int = 9100
    versions: list[str] = field(default_factory=lambda: [v.value for v in ALL_VERSIONS])  # offered to stations
    tls_cert: str = ""  # wss:// for the stations: TLS ends here (the controller's own certificate)
    tls_key: str = ""
    upstream_url: str = ""  # the CSMS, e.g. wss://csms.example.com; each station's own path is appended
    upstream_ca: str = ""  # PEM CA(s) trusted for a wss:// upstream; empty: the system's
    upstream_cert: str = ""  # client certificate (PEM) for mutual TLS upstream; "{identity}" in it: per station
    upstream_key: str = ""
    tls_client_ca: str = ""  # stations present a certificate from this CA, subject CN = identity (profile 3)
    credentials: dict[str, str] = field(default_factory=dict)  # station -> password sent upstream instead of its own
    site: str = "group"  # the limit-tree site stations join when the tree does not name them
    group_amps: float = 0.0  # the group's own limit per phase (0: none)
    group_watts: float = 0.0
    identity: str = ""  # connect upstream as this station too: the CSMS's station-max profiles limit the group
    identity_version: str = "ocpp2.0.1"
    identity_password: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101  # Prometheus /metrics; 0: off
    http_host: str = "127.0.0.1"  # the status page and its JSON (docs/smart-charging.md)
    http_port: int = 0  # 0: off
    http_token: str = ""  # required as a bearer token when set; required to listen beyond loopback
    connect_timeout: float = 10.0  # seconds for an upstream connection to open
    call_timeout: float = 30.0  # seconds a station has to answer a CALL (ours or the CSMS's)
    reconnect_max_s: float = 30.0  # an unreachable upstream is retried with backoff up to this
    ping_interval: float = 60.0
    max_frame_size: int = 1024 * 1024
    hold_frames: int = 100  # frames a station may send while its upstream connection is being opened

    def validate(self) -> None:
        if not self.upstream_url.startswith(("ws://", "wss://")):
            raise ValueError("local_controller.upstream_url must be a ws:// or wss:// URL of the CSMS")
        if not 0 < self.port < 65536:
            raise ValueError("local_controller.port must be 1..65535")
        if not 0 <= self.metrics_port < 65536:
            raise ValueError("local_controller.metrics_port must be 0 (off) or 1..65535")
        if not 0 <= self.http_port < 65536:
            raise ValueError("local_controller.http_port must be 0 (off) or 1..65535")
        if self.http_port and not self.http_token and not _loopback(self.http_host):
            raise ValueError(
                f"local_controller.http_token is required to serve the status on {self.http_host} (not loopback)"
            )
        if self.group_amps < 0 or self.group_watts < 0:
            raise ValueError("local_controller.group_amps / group_watts cannot be negative")
        for name in ("connect_timeout", "call_timeout", "reconnect_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"local_controller.{name} must be a positive number of seconds")
        if self.identity and OcppVersion.from_subprotocol(self.identity_version) not in (
            OcppVersion.V16,
            OcppVersion.V201,
        ):
            raise ValueError("local_controller.identity_version must be ocpp1.6 or ocpp2.0.1")
        for name in ("upstream_ca", "upstream_cert", "upstream_key", "tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(self, name)
            if "{identity}" in path:  # one file per station: its folder must exist
                path = str(Path(path).parent)
                if not Path(path).is_dir():
                    raise ValueError(f"local_controller.{name}: folder {path} does not exist")
            elif path and not Path(path).is_file():
                raise ValueError(f"local_controller.{name}: {path} does not exist")
        if ("{identity}" in self.upstream_key) != ("{identity}" in self.upstream_cert) and self.upstream_key:
            raise ValueError("local_controller.upstream_key: use {identity} in both upstream_cert and upstream_key")
        for name in ("tls_key", "tls_client_ca"):
            if getattr(self, name) and not self.tls_cert:
                raise ValueError(f"local_controller.{name} is set but local_controller.tls_cert is not")
        for name in self.versions:
            if OcppVersion.from_subprotocol(name) is None:
                raise ValueError(f"local_controller.versions: unknown version {name!r}")
        if not isinstance(self.credentials, dict):
            raise ValueError("local_controller.credentials is a table of station = password, in the file")


@dataclass
class Settings:
    data_dir: str = field(default_factory=default_data_dir)
    database_url: str = ""
    log_level: str = "INFO"
    log_format: str = "text"  # text | json
    message_log_retention_days: float = 7.0
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    smart: SmartSettings = field(default_factory=SmartSettings)
    oscp: OscpSettings = field(default_factory=OscpSettings)
    ca: CaSettings = field(default_factory=CaSettings)
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    soap: SoapSettings = field(default_factory=SoapSettings)
    transactions: TransactionSettings = field(default_factory=TransactionSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    files: FileSettings = field(default_factory=FileSettings)
    local_controller: LocalControllerSettings = field(default_factory=LocalControllerSettings)
    # Where these came from (`ocppd --verbose`), and ignored environment variables.
    config_file: str = field(default="", metadata=INTERNAL)
    config_source: str = field(default="defaults", metadata=INTERNAL)
    data_dir_source: str = field(default="default", metadata=INTERNAL)
    warnings: list[str] = field(default_factory=list, metadata=INTERNAL)

    def describe(self) -> list[str]:
        """Lines saying which configuration, data directory and database this process uses."""
        database = self.database_url or self.resolved_database_url
        if "@" in database:  # hide a password in the URL
            database = str(_hide_password(database))
        return [
            f"configuration file: {self.config_file or '-'} ({self.config_source})",
            f"data directory: {Path(self.data_dir).resolve()} ({self.data_dir_source})",
            f"database: {database}",
        ]

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
        self.http.server_ssl_context("http")
        self.soap.client_verify()
        if self.ocpp.authorization_key_encoding not in ("hex", "plain"):
            raise ValueError("ocpp.authorization_key_encoding must be hex or plain")
        if self.ocpp.default_security_profile not in (-1, 0, 1, 2, 3):
            raise ValueError("ocpp.default_security_profile must be -1 (automatic) or 0 to 3")
        if self.ca.provider not in ("builtin", "http"):
            raise ValueError("ca.provider must be builtin or http")
        if self.ca.provider == "http" and not self.ca.provider_url:
            raise ValueError("ca.provider_url: required with ca.provider = http")
        if self.soap.enabled and not self.soap.path.startswith("/"):
            raise ValueError("soap.path must start with /")
        if self.soap.enabled and self.soap.port == 0 and not self.http.enabled:
            raise ValueError("soap.port: 0 serves OCPP-S on the HTTP server, which http.enabled turns off")
        if self.transactions.on_block not in BLOCK_ACTIONS:
            raise ValueError(f"transactions.on_block must be one of {', '.join(BLOCK_ACTIONS)}")
        if self.transactions.abandoned_after <= 0:
            raise ValueError("transactions.abandoned_after must be a positive number of seconds")
        if self.log_format not in ("text", "json"):
            raise ValueError("log_format must be text or json")
        self.smart.validate()
        self.oscp.validate()
        if self.ocpp.max_calls_in_flight < 1:
            raise ValueError("ocpp.max_calls_in_flight must be at least 1")
        if self.ocpp.write_stall_timeout < 0:
            raise ValueError("ocpp.write_stall_timeout must be 0 (never) or a number of seconds")
        h = self.http
        if h.max_connections < 1:
            raise ValueError("http.max_connections must be at least 1")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if not getattr(h, name) > 0:
                raise ValueError(f"http.{name} must be a positive number of seconds")
        self.provisioning.validate()
        if self.files.max_log_bytes < 1 or self.files.max_firmware_bytes < 1:
            raise ValueError("files.max_log_bytes and files.max_firmware_bytes must be at least 1")
        if not (self.files.upload_token_ttl_s > 0 and self.files.download_token_ttl_s > 0):
            raise ValueError("files.upload_token_ttl_s and files.download_token_ttl_s must be positive")
        if self.alerts.max_new_per_minute < 1:
            raise ValueError("alerts.max_new_per_minute must be at least 1")
        if self.alerts.offline_margin_s < 0:
            raise ValueError("alerts.offline_margin_s must be 0 or more seconds")


def _loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (a name other than localhost counts as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL we can parse: say nothing of it rather than leak it
        return "(unparsable URL)"


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if not f.metadata.get("internal")}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown setting(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        kwargs[name] = _build(hint, value, key) if is_dataclass(hint) else _coerce(value, hint, key)
    return cls(**kwargs)


def _setting_names(cls: Any) -> dict[str, bool]:
    """Top-level setting names -> whether it is a section."""
    hints = get_type_hints(cls)
    return {f.name: is_dataclass(hints[f.name]) for f in fields(cls) if not f.metadata.get("internal")}


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults < file < environment. Raises ValueError with the offending key on bad input."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    file, source = config_file(path, env)
    if file is not None:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
    data_dir_source = f"{file}" if "data_dir" in data else "default"
    if file is not None and isinstance(data.get("data_dir"), str):
        data["data_dir"] = os.path.expanduser(data["data_dir"])
        if not os.path.isabs(data["data_dir"]):
            data["data_dir"] = str(file.resolve().parent / data["data_dir"])  # relative to the file, not the cwd
    names = _setting_names(Settings)
    warnings: list[str] = []
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or key in NON_SETTING_VARIABLES:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 1 and parts[0] not in names:
            hint = difflib.get_close_matches(parts[0], list(names), n=1)
            also = f" (did you mean {ENV_PREFIX}{hint[0].upper()}?)" if hint else ""
            warnings.append(f"{key} is not an ocppd setting and is ignored{also}")
            continue
        if len(parts) > 1 and not names.get(parts[0]):
            raise ValueError(
                f"{key}: unknown section {parts[0]!r} (sections: {', '.join(n for n in names if names[n])})"
            )
        if len(parts) == 1 and names[parts[0]]:
            raise ValueError(f"{key}: {parts[0]} is a section; set its keys as {key}__KEY")
        if parts == ["data_dir"]:
            data_dir_source = key
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    settings: Settings = _build(Settings, data, "")
    settings.data_dir = os.path.expanduser(settings.data_dir)
    settings.config_file = str(file) if file is not None else ""
    settings.config_source = source
    settings.data_dir_source = data_dir_source
    settings.warnings = warnings
    settings.validate()
    return settings
