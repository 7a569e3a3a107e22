"""SQLAlchemy Core table definitions (the single source of truth mirrored by the migrations)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from .types import UTCDateTime, utcnow

# Deterministic constraint names keep migrations portable (SQLite batch mode needs names to alter).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-assigns INTEGER PRIMARY KEY, so 64-bit ids fall back to INTEGER there (still 64-bit).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# SQL NULL rather than JSON 'null' for a Python None.
Json = JSON(none_as_null=True)

ID_LEN = 255  # OCPP 2.1 allows identifiers/idTokens up to 255 chars; 1.6/2.0.1 are shorter.


stations = Table(
    "stations",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("ocpp_version", String(16)),
    Column("vendor", String(255)),
    Column("model", String(255)),
    Column("serial_number", String(255)),
    Column("firmware_version", String(255)),
    Column("registration_status", String(32)),
    Column("boot_info", Json),
    Column("enabled", Boolean, nullable=False, default=True, server_default=true()),
    Column("security_profile", SmallInteger),
    Column("auth_password_hash", String(255)),
    Column("attrs", Json),
    Column("last_boot_at", UTCDateTime),
    Column("last_seen_at", UTCDateTime),
    Column("last_heartbeat_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    # The inventory views across stations: counts and drill-down pages by vendor, model, firmware
    Index(None, "vendor", "station_id"),
    Index(None, "model", "station_id"),
    Index(None, "firmware_version", "station_id"),
)

# Current status per connector. No FK to stations: history and status may arrive before a
# BootNotification (e.g. after a CSMS database reset) and must not be rejected.
connector_status = Table(
    "connector_status",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(32), nullable=False),
    Column("error_code", String(64)),
    Column("info", Text),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("extra", Json),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("error_code", String(64)),
    Column("info", Text),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("extra", Json),
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id_token", String(ID_LEN), primary_key=True),
    Column("token_type", String(32)),
    Column("status", String(32), nullable=False),
    Column("expiry", UTCDateTime),
    Column("group_id", String(ID_LEN)),
    # May this token (or the tokens of this group) be in several live transactions at once?
    # NULL: as its group says, else no.
    Column("concurrent_tx", Boolean),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    # The driver's preferred user-interface languages (RFC 5646; 2.x idTokenInfo language1/language2).
    Column("language1", String(8)),
    Column("language2", String(8)),
)

transactions = Table(
    "transactions",
    metadata,
    # Plain 32-bit INTEGER: OCPP 1.6 transactionId is a signed int32 (PostgreSQL SERIAL caps at 2**31-1).
    # sqlite_autoincrement: never reuse an id a station may still remember.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("transaction_uid", String(64)),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("id_token", String(ID_LEN)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Column("meter_start_wh", Float),
    Column("meter_stop_wh", Float),
    Column("energy_wh", Float),
    Column("stop_reason", String(64)),
    Column("stop_id_token", String(ID_LEN)),
    Column("ocpp_version", String(16)),
    Column("dedupe_key", String(255), nullable=False),
    Column("charging_state", String(32)),
    Column("remote_start_id", Integer),
    Column("reservation_id", Integer),
    Column("offline", Boolean, nullable=False, default=False, server_default=false()),
    Column("trigger_reason", String(32)),  # 2.x: of the latest event
    # Who closed it when the station did not: "csms" (abandoned, superseded) or "operator:<name>";
    # close_reason says why. flagged: the operator should look at it.
    Column("closed_by", String(255)),
    Column("close_reason", Text),
    Column("flagged", Boolean, nullable=False, default=False, server_default=false()),
    # When the CSMS acted on its token being blocked (RemoteStop sent or Blocked answered).
    Column("deauthorized_at", UTCDateTime),
    Column("data", Json),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("dedupe_key"),
    UniqueConstraint("station_id", "transaction_uid"),
    Index(None, "station_id", "started_at"),
    Index(None, "id_token"),
    Index(None, "started_at", "id"),  # keyset pages, newest first
    Index(None, "stopped_at"),  # the billing totals of a range of ends
    # Running transactions: a handful among millions, looked up by the stations list and the overview.
    Index(
        "ix_transactions_running",
        "started_at",
        "id",
        sqlite_where=text("stopped_at IS NULL"),
        postgresql_where=text("stopped_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

# measurand/phase/context/location are NOT NULL ('' for absent phase) because NULLs are distinct
# in unique constraints and would defeat duplicate suppression.
# One row per meter reading (all sampled values a station reported for one timestamp), not per sampled
# value: a 1.6 MeterValues with 10 sampled values is one row. The samples are kept normalised as JSON
# ``[[measurand, phase, unit, value, context, location], ...]``; the figures billing and the dashboard
# need (whole-meter energy register in Wh, total active power in W) are columns of their own.
# A replayed reading has the same digest of its samples and is ignored.
meter_values = Table(
    "meter_values",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, ForeignKey("transactions.id")),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("context", String(32), nullable=False),
    Column("energy_wh", Float),
    Column("power_w", Float),
    Column("samples", Text, nullable=False),
    Column("digest", String(32), nullable=False),
    UniqueConstraint("station_id", "connector_id", "timestamp", "digest"),
    Index(None, "transaction_id", "timestamp"),
)

tx_events = Table(
    "tx_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("transaction_uid", String(64), nullable=False),
    Column("seq_no", Integer, nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("payload", Json),
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("station_id", "transaction_uid", "seq_no"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN)),
    Column("kind", String(64), nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("payload", Json),
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "id"),
    Index(None, "kind", "id"),
)

variables = Table(
    "variables",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("component", String(255), primary_key=True),
    Column("variable", String(255), primary_key=True),
    Column("attribute", String(32), primary_key=True),
    Column("value", Text),
    Column("readonly", Boolean, nullable=False, default=False, server_default=false()),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    # The device model (2.x NotifyReport variableCharacteristics and mutability; docs/device-management.md)
    Column("mutability", String(16)),  # ReadOnly | ReadWrite | WriteOnly (1.6: readonly decides)
    Column("data_type", String(32)),  # string, decimal, integer, dateTime, boolean, OptionList, ...
    Column("unit", String(32)),
    Column("min_limit", Float),
    Column("max_limit", Float),  # a string's maximum length
    Column("values_list", Text),  # comma-separated, for OptionList / MemberList / SequenceList
    Column("supports_monitoring", Boolean),
    # The last SetVariables / ChangeConfiguration of it and the station's answer (RebootRequired included)
    Column("set_value", Text),
    Column("set_status", String(32)),
    Column("set_reason", Text),
    Column("set_at", UTCDateTime),
    Index(None, "variable", "component", "station_id"),  # which stations have a setting (across stations)
    Index(
        "ix_variables_reboot_required",  # the few settings waiting for a reboot, among millions of rows
        "station_id",
        sqlite_where=text("set_status = 'RebootRequired'"),
        postgresql_where=text("set_status = 'RebootRequired'"),
    ),
)

message_log = Table(
    "message_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("message_type", SmallInteger, nullable=False),
    Column("message_id", String(64)),
    Column("action", String(64)),
    Column("frame", Text, nullable=False),
    Column("logged_at", UTCDateTime, nullable=False),
    # The frame exactly as received when ``frame`` cannot hold it (a NUL byte, which PostgreSQL text
    # refuses, or bytes that are not UTF-8); ``frame`` then shows it with backslash escapes.
    Column("frame_bytes", LargeBinary),
    Index(None, "station_id", "logged_at", "id"),  # keyset pages, newest first
    Index(None, "logged_at", "id"),
)

# Smart charging (docs/smart-charging.md). Every profile the CSMS sent, with the station's answer:
# ``state`` is installed | rejected | failed | replaced | cleared | ended; ``drift`` is set when the
# station's own report (GetChargingProfiles / GetCompositeSchedule) disagrees with what is installed.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("profile_id", Integer, nullable=False),
    Column("purpose", String(16), nullable=False),  # max | txdefault | tx | external
    Column("stack_level", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("unit", String(2), nullable=False),
    Column("transaction_id", String(64)),
    Column("valid_from", UTCDateTime),
    Column("valid_to", UTCDateTime),
    Column("source", String(16), nullable=False),  # operator | balancer | fallback | station
    Column("profile", Json, nullable=False),  # as sent (the version's own shape)
    Column("state", String(16), nullable=False),
    Column("answer", Json),
    Column("drift", Text),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Index(None, "station_id", "state"),
    Index(None, "station_id", "id"),
)

# The limit tree: sites, sub-circuits, stations and EVSEs (smart.tree.Node as one row each).
limit_nodes = Table(
    "limit_nodes",
    metadata,
    Column("node_id", String(ID_LEN), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("parent_id", String(ID_LEN)),
    Column("spec", Json, nullable=False),  # limits, windows, rotation, weight: as the API takes them
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

external_limits = Table(
    "external_limits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("node_id", String(ID_LEN), nullable=False),
    Column("source", String(16), nullable=False),  # api | ems | oscp | station
    Column("amps", Json),
    Column("watts", Float),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("note", Text),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "node_id"),
)

# Roles only one node may play at a time (the balancer: "balancer"), held by the node that renewed
# the row last, until it expires (docs/architecture.md). A single node always holds them.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(ID_LEN), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# An EV's departure time and energy need (ISO 15118 NotifyEVChargingNeeds, or the operator), kept
# until its transaction ends so that a restart does not lose it. ``base_wh`` is the EVSE's energy
# register when the need was set (the need counts from there); ``extra`` what the EV said besides.
charging_needs = Table(
    "charging_needs",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("departure", UTCDateTime),
    Column("energy_wh", Float),
    Column("source", String(16), nullable=False),  # ev | operator
    Column("base_wh", Float),
    Column("transaction_id", String(ID_LEN)),  # the transaction it was set during (None: before one)
    Column("extra", Json),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# CSMS-initiated commands queued for a station that was offline (opt-in per call), delivered in id
# order when it is back. ``verb`` and ``body`` are the domain verb's name and fields (csms/verbs.py).
command_queue = Table(
    "command_queue",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("verb", String(64), nullable=False),
    Column("body", Json, nullable=False),
    Column("status", String(16), nullable=False),  # queued, sending, delivered, failed, expired, cancelled
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_by", String(255)),
    Column("finished_at", UTCDateTime),
    Column("result", Json),
    Column("error", Text),
    Index(None, "station_id", "status", "id"),
)

# Certificates the CSMS's CA issued to stations (docs/security.md): what SignCertificate produced, whether
# the station installed it (CertificateSigned answer), and revocation (the TLS port refuses revoked ones).
station_certificates = Table(
    "station_certificates",
    metadata,
    Column("serial", String(64), primary_key=True),  # upper-case hex, as OpenSSL prints it
    Column("station_id", String(ID_LEN), nullable=False),
    Column("certificate_type", String(32), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("pem", Text, nullable=False),
    Column("status", String(16), nullable=False),  # issued | accepted | rejected | undelivered
    Column("status_info", String(512)),
    Column("issued_at", UTCDateTime, nullable=False, default=utcnow),
    Column("revoked_at", UTCDateTime),
    Column("revocation_reason", String(64)),
    Index(None, "station_id", "issued_at"),
)

# What each station has in its trust store (InstallCertificate / GetInstalledCertificateIds), hash data
# exactly as the station reported it; subject, expiry and PEM when the CSMS installed the certificate.
installed_certificates = Table(
    "installed_certificates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("certificate_type", String(32), nullable=False),
    Column("hash_algorithm", String(8), nullable=False),
    Column("issuer_name_hash", String(128), nullable=False),
    Column("issuer_key_hash", String(128), nullable=False),
    Column("serial_number", String(40), nullable=False),
    Column("children", Json),  # V2GCertificateChain: the sub-CAs' hash data
    Column("subject", String(512)),
    Column("not_after", UTCDateTime),
    Column("pem", Text),
    Column("source", String(16), nullable=False),  # installed | reported
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "certificate_type"),
)

# The client certificate each station last presented at TLS (security profile 3, from whichever CA):
# one row per station, replaced when a connection shows another serial.
presented_certificates = Table(
    "presented_certificates",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("serial", String(64), nullable=False),  # upper-case hex, as OpenSSL prints it
    Column("subject", String(512), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("sha256_fingerprint", String(64), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

# Reservations (ReserveNow / CancelReservation), ids allocated here. evse_id NULL: any EVSE (2.x)
# or connector 0 (1.6: the whole station). status: Pending (sent), the station's answer (Accepted,
# Faulted, Occupied, Rejected, Unavailable), then Used, Cancelled, Expired or Removed.
reservations = Table(
    "reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("connector_type", String(32)),
    Column("id_token", String(ID_LEN), nullable=False),
    Column("token_type", String(32)),
    Column("group_id", String(ID_LEN)),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("status", String(32), nullable=False),
    Column("transaction_id", Integer),
    Column("created_by", String(255)),
    Column("note", Text),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "status"),
    sqlite_autoincrement=True,
)

# Local authorization lists, owned by the CSMS: which tokens (kind "token") and groups (kind
# "group") go on which station; what was last sent (to compute differential updates); the version.
local_list_members = Table(
    "local_list_members",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", String(ID_LEN), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

local_list_sent = Table(
    "local_list_sent",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("id_token", String(ID_LEN), primary_key=True),
    Column("token_type", String(32)),
    Column("status", String(32), nullable=False),
    Column("expiry", UTCDateTime),
    Column("group_id", String(ID_LEN)),
)

# status: Synced, Pending (changes not yet sent), Failed, NotSupported, VersionMismatch, Offline.
local_lists = Table(
    "local_lists",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("version", Integer, nullable=False, default=0, server_default="0"),
    Column("station_version", Integer),
    Column("status", String(32), nullable=False),
    Column("detail", Text),
    Column("synced_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# Alerts (docs/device-management.md): what needs an operator's attention, opened and cleared by what the
# station reports (NotifyEvent, StatusNotification errors, critical security events) or by ocppd itself
# (offline). One open row per (station, key): repeats only raise ``count`` and ``last_at``.
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("key", String(512), nullable=False),  # what the alert is about; equal keys are one alert
    Column("source", String(32), nullable=False),  # NotifyEvent | StatusNotification | Offline | Security | Storm
    Column("severity", SmallInteger),  # OCPP 2.x scale: 0 Danger ... 9 Debug
    Column("code", String(255)),  # techCode, errorCode / vendorErrorCode, security event type
    Column("message", Text, nullable=False),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("cleared_at", UTCDateTime),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledged_by", String(255)),
    Column("details", Json),
    Index(None, "station_id", "cleared_at"),
    Index(None, "cleared_at", "id"),
)

# Billing (docs/billing.md). Every version of a tariff is kept: a transaction is priced by the version in
# force when it started. valid_to NULL: until a later version starts.
tariff_versions = Table(
    "tariff_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tariff_id", String(64), nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime),
    Column("body", Json, nullable=False),  # the tariff as ocppd.csms.billing.tariff reads it
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(255)),
    Index(None, "tariff_id", "valid_from"),
)

# Which tariff applies where: the most specific assignment wins (token, group, EVSE, station, default).
tariff_assignments = Table(
    "tariff_assignments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tariff_id", String(64), nullable=False),
    Column("station_id", String(ID_LEN)),
    Column("evse_id", Integer),
    Column("group_id", String(ID_LEN)),
    Column("id_token", String(ID_LEN)),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(255)),
    Column("site_id", String(ID_LEN)),  # a site of the limit tree: every station under it
)

# Every computation of a transaction's cost (at its end, and each operator recompute with its reason);
# the transaction's price is its latest row. Money in the currency's minor units for sums in SQL.
transaction_costs = Table(
    "transaction_costs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, ForeignKey("transactions.id"), nullable=False),
    Column("tariff_version_id", BigInteger),
    Column("tariff_id", String(64)),
    Column("currency", String(3)),
    Column("excl_vat_minor", BigInteger),
    Column("incl_vat_minor", BigInteger),
    Column("energy_wh", Float),
    Column("cost", Json),  # the breakdown (Cost.to_json), or None when no tariff applied
    Column("flags", Json),
    Column("reason", String(512), nullable=False),
    Column("computed_by", String(255)),
    Column("computed_at", UTCDateTime, nullable=False, default=utcnow),
    # what the price was based on, kept for the reports (a station may move, a token change group later)
    Column("site_id", String(ID_LEN)),
    Column("group_id", String(ID_LEN)),
    Column("charging_s", Float),  # the breakdown's charging and idle time, summable in SQL
    Column("parking_s", Float),
    Index(None, "transaction_id", "id"),
)

# Prepaid credit (docs/billing.md#prepaid-credit): a balance held by a token or a token group (``holder``),
# in minor units of its currency. Every change is an entry; a transaction's final cost is debited once
# (the unique transaction_id makes a replayed end unable to debit twice).
credit_accounts = Table(
    "credit_accounts",
    metadata,
    Column("holder", String(ID_LEN), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_by", String(255)),
)

credit_entries = Table(
    "credit_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("holder", String(ID_LEN), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # signed: a debit is negative
    Column("balance_minor", BigInteger, nullable=False),  # after this entry
    Column("transaction_id", Integer, ForeignKey("transactions.id"), unique=True),
    Column("reason", String(512), nullable=False),
    Column("entered_by", String(255)),
    Column("entered_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "holder", "id"),
)

# OCPP 2.1 transaction limits (TransactionLimitType): what the operator set (``operator``, for a remote
# start by remote_start_id until the transaction is known), the prepaid credit gave (``prepaid``), what
# ocppd answered a TransactionEvent with (``sent``) and what the station reported (``station``).
transaction_limits = Table(
    "transaction_limits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("transaction_uid", String(64)),
    Column("remote_start_id", Integer),
    Column("source", String(16), nullable=False),
    Column("max_cost", Float),
    Column("max_energy", Float),
    Column("max_time", Integer),
    Column("max_soc", Integer),
    Column("currency", String(3)),
    Column("seq_no", Integer),
    Column("set_by", String(255)),
    Column("set_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "transaction_uid"),
    Index(None, "station_id", "remote_start_id"),
)

# Signed meter values kept with their transaction for the life of the record (the message log is pruned).
signed_meter_values = Table(
    "signed_meter_values",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, ForeignKey("transactions.id")),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("context", String(32)),
    Column("measurand", String(64)),
    Column("value", Float),
    Column("signed_data", Text, nullable=False),
    Column("encoding", String(64)),
    Column("signing_method", String(64)),
    Column("public_key", Text),
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    Column("verification", String(16)),  # verified, failed, unverifiable (csms/billing/signatures.py)
    Column("verification_detail", String(512)),
    Index(None, "transaction_id", "timestamp"),
)

# The public key of each EVSE's fiscal meter as the station reported it (2.x FiscalMetering.PublicKey,
# 1.6 MeterPublicKey[n]); evse_id 0: the station's (one meter, or not said per EVSE).
meter_public_keys = Table(
    "meter_public_keys",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("variable", String(512), nullable=False),  # where it was read: FiscalMetering@evse1/PublicKey
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# OCPP 2.1 tariffs sent to stations (SetDefaultTariff per EVSE, ChangeTransactionTariff per transaction)
# with the station's answer; held: the station holds it as far as the CSMS knows (GetTariffs reconciles).
station_tariffs = Table(
    "station_tariffs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("tariff_id", String(60), nullable=False),  # 2.1 tariffId
    Column("kind", String(16), nullable=False),  # default, transaction, reported (found by GetTariffs)
    Column("transaction_uid", String(ID_LEN)),
    Column("body", Json, nullable=False),  # the 2.1 Tariff as sent (or as reported)
    Column("source_tariff_id", String(64)),  # the ocppd tariff and version it was mapped from
    Column("source_version_id", BigInteger),
    Column("status", String(32), nullable=False),  # the station's answer
    Column("detail", String(512)),
    Column("held", Boolean, nullable=False),
    Column("set_at", UTCDateTime, nullable=False, default=utcnow),
    Column("checked_at", UTCDateTime),  # last confirmed by GetTariffs
    Index(None, "station_id", "held"),
)

# A 2.1 station's own cost of a transaction (TransactionEvent costDetails) beside the CSMS's computation.
station_local_costs = Table(
    "station_local_costs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, ForeignKey("transactions.id")),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("transaction_uid", String(ID_LEN), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("seq_no", Integer, nullable=False),
    Column("tariff_id", String(60)),
    Column("cost_details", Json, nullable=False),
    Column("station_incl_vat", String(32)),  # decimals as text: exact
    Column("csms_incl_vat", String(32)),
    Column("difference", String(32)),  # station - CSMS
    Column("flagged", Boolean, nullable=False),  # the difference is beyond rounding
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "transaction_id", "id"),
)

# Log / diagnostics uploads ocppd asked for (GetLog, GetDiagnostics) to its own upload URL: one row per
# request, the per-request token kept as its SHA-256, status from (Log|Diagnostics)StatusNotification.
log_uploads = Table(
    "log_uploads",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("request_id", Integer),  # 2.x requestId; 1.6 has none
    Column("log_type", String(32), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),  # Requested, the answer, then the station's notifications
    Column("filename", String(255)),  # as stored (safe name)
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("uploaded_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(255)),
    Index(None, "station_id", "id"),
)


# Firmware images hosted by ocppd (``<data_dir>/firmware/<id>/<name>``), with the signature and signing
# certificate that go with a signed update.
firmware_images = Table(
    "firmware_images",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("signature", Text),
    Column("signing_certificate", Text),
    Column("uploaded_at", UTCDateTime, nullable=False, default=utcnow),
    Column("uploaded_by", String(255)),
    Column("version", String(50)),  # the firmwareVersion a station boots with after installing it
)

# One firmware update sent to one station: the image, the per-job download token (its SHA-256; the URL
# works until ``expires_at``), and the status from (Signed)FirmwareStatusNotification.
firmware_jobs = Table(
    "firmware_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("image_id", BigInteger, nullable=False),
    Column("request_id", Integer),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(255)),
    Column("downloads", Integer, nullable=False, default=0),
    Index(None, "station_id", "id"),
)


# Firmware campaigns: one image to a list of stations in waves (csms/campaigns.py). ``stations`` keeps
# each station's progress: {"station_id": {"wave": n, "job_id": id, "status": ..., "version": ...}}.
firmware_campaigns = Table(
    "firmware_campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("image_id", BigInteger, nullable=False),
    Column("wave_size", Integer, nullable=False),
    Column("pause_s", Float, nullable=False),
    Column("max_failure_rate", Float, nullable=False),
    Column("wave_timeout_s", Float, nullable=False),
    Column("state", String(16), nullable=False),  # running, completed, stopped, interrupted
    Column("wave", Integer, nullable=False, default=0),
    Column("stations", Json, nullable=False),
    Column("detail", Text),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(255)),
    Column("retries", Integer, nullable=False, default=0, server_default="0"),  # re-sends per station
    Column("retrieve_at", UTCDateTime),
    Column("install_at", UTCDateTime),
    Column("window_end", UTCDateTime),  # nothing is sent after; stations still offline then: Missed
    # the timers of the running wave, stored so that a restarted ocppd re-arms them
    Column("wave_deadline", UTCDateTime),
    Column("next_wave_at", UTCDateTime),
)


# 2.x variable monitors each station reported (NotifyMonitoringReport), per component/variable; their
# severity gives NotifyEvent alerts theirs (csms/alerts.py).
monitors = Table(
    "monitors",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("monitor_id", Integer, primary_key=True),
    Column("component", String(512), nullable=False),
    Column("variable", String(512), nullable=False),
    Column("type", String(32), nullable=False),
    Column("value", Float, nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("transaction", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("status", String(32)),  # the SetVariableMonitoring answer (Accepted), or Reported
    Column("reason", Text),  # the station's statusInfo, where it gave one
    Column("origin", String(16)),  # set (by ocppd) | reported (NotifyMonitoringReport only)
    Column("clear_status", String(32)),  # a ClearVariableMonitoring the station refused (Rejected)
    Column("clear_reason", Text),  # and its statusInfo
)

# Monitors ocppd asked for and the station refused (SetVariableMonitoring answered Rejected,
# UnknownComponent, UnknownVariable, UnsupportedMonitorType or Duplicate): the station gave them no id,
# so they are kept by what was asked; a later accepted set of the same component, variable and type
# removes the refusal (docs/device-management.md).
monitor_refusals = Table(
    "monitor_refusals",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("component", String(512), primary_key=True),
    Column("variable", String(512), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("monitor_id", Integer),  # the monitor the request meant to replace, when it named one
    Column("value", Float, nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("transaction", Boolean, nullable=False, default=False),
    Column("status", String(32), nullable=False),  # the station's answer
    Column("reason", Text),  # its statusInfo, where it gave one
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)


# Operations of issue 13 with a lasting state (csms/operations.py, docs/device-management.md).
# The operative state the operator wants per scope (evse_id 0: the station; connector_id 0: the whole
# EVSE), the station's answer, and whether the reported status shows it applied.
availability_wanted = Table(
    "availability_wanted",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("operative", Boolean, nullable=False),
    Column("answer", String(32)),  # Accepted, Scheduled, Rejected; None: no answer (offline, timeout)
    Column("state", String(16), nullable=False),  # pending, scheduled, applied, rejected, failed
    Column("detail", String(512)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("applied_at", UTCDateTime),
    Column("reapplied_at", UTCDateTime),  # sent again after a reboot that lost it
)

# Each reset sent, its answer and what was observed after it (the connection dropped, the new boot).
resets = Table(
    "resets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("kind", String(32), nullable=False),  # the wire type: OnIdle, Immediate, ..., 1.6 Soft/Hard
    Column("evse_id", Integer),
    Column("answer", String(32)),
    # awaiting_reboot, scheduled, completed, not_observed, rejected, failed, accepted (an EVSE reset)
    Column("outcome", String(16), nullable=False),
    Column("detail", String(512)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("deadline_at", UTCDateTime),  # not observed after this: outcome not_observed
    Column("disconnected_at", UTCDateTime),
    Column("booted_at", UTCDateTime),
    Column("boot_reason", String(32)),
    Index(None, "station_id", "id"),
)

# 2.x display messages on each station, as set (accepted) and as reported by NotifyDisplayMessages.
display_messages = Table(
    "display_messages",
    metadata,
    Column("station_id", String(ID_LEN), primary_key=True),
    Column("message_id", Integer, primary_key=True),
    Column("priority", String(16), nullable=False),
    Column("state", String(16)),
    Column("start_at", UTCDateTime),
    Column("end_at", UTCDateTime),
    Column("transaction_id", String(64)),
    Column("format", String(8), nullable=False),
    Column("language", String(8)),
    Column("content", Text, nullable=False),
    Column("display", String(512)),  # the component it is shown on, qualified name
    Column("set_at", UTCDateTime),  # accepted by the station after ocppd set it
    Column("reported_at", UTCDateTime),  # last seen in the station's NotifyDisplayMessages
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# 2.x CustomerInformation requests and the NotifyCustomerInformation parts, assembled.
customer_information = Table(
    "customer_information",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station_id", String(ID_LEN), nullable=False),
    Column("request_id", Integer, nullable=False),
    Column("report", Boolean, nullable=False),
    Column("clear", Boolean, nullable=False),
    Column("id_token", String(ID_LEN)),
    Column("id_token_type", String(32)),
    Column("customer_identifier", String(64)),
    Column("certificate", Json),  # CertificateHashDataType
    Column("status", String(16), nullable=False),  # Requested, the answer; NotSent
    Column("data", Text, nullable=False, default=""),
    Column("parts", Integer, nullable=False, default=0),
    Column("complete", Boolean, nullable=False, default=False),
    Column("created_by", String(255)),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "station_id", "request_id"),
)

ALL_TABLES = tuple(metadata.sorted_tables)
