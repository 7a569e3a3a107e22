"""Prometheus metrics, one registry for the process; ``/metrics`` serves them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTED = Gauge("ocppd_connected_stations", "Stations with an open connection", ["ocpp_version"])
MESSAGES = Counter(
    "ocppd_messages_total",
    "OCPP calls handled (in) and sent (out) by action and result",
    ["direction", "action", "result"],
)
CALL_LATENCY = Histogram(
    "ocppd_call_latency_seconds",
    "Time for a station to answer a CSMS-initiated call",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RELAXATIONS = Counter(
    "ocppd_compat_relaxations_total",
    "Schema violations let through by a compatibility relaxation",
    ["relaxation", "action"],
)
HTTP_LIMITED = Counter(
    "ocppd_http_limited_total",
    "HTTP connections ended by a limit of the dashboard/API port (http_limits.py)",
    ["limit"],  # busy (503), evict (slowest client closed), headers (408), body
)
EVENT_STREAMS = Gauge("ocppd_api_event_streams", "Open Server-Sent Event streams (dashboard pages, API clients)")
DB_WRITE_LATENCY = Histogram(
    "ocppd_db_commit_seconds",
    "Duration of one group commit of the store writer (BEGIN to end of COMMIT)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
DB_BATCH_OPS = Histogram(
    "ocppd_db_commit_ops",
    "Writes acknowledged by one group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)


def observe_commit(seconds: float, ops: int) -> None:
    DB_WRITE_LATENCY.observe(seconds)
    DB_BATCH_OPS.observe(ops)


CERTIFICATES_SIGNED = Counter(
    "ocppd_certificates_signed_total",
    "SignCertificate requests by certificate type and outcome (rejected, issued, installed, refused by the station)",
    ["certificate_type", "outcome"],
)
CERTIFICATE_EXPIRY = Gauge(
    "ocppd_certificate_expiry_timestamp_seconds",
    "Soonest expiry (Unix time) of the certificates stations hold, per certificate type: their own (from the CA "
    "or presented at TLS) and their trust stores' with a known expiry; refreshed on changes and every "
    "ca.expiry_check_interval_s",
    ["certificate_type"],
)
CONNECTIONS_REFUSED = Counter(
    "ocppd_connections_refused_total",
    "Station connections refused before the WebSocket upgrade or in the TLS handshake, by reason",
    ["reason"],
)
VERBS = Counter(
    "ocppd_verbs_total",
    "CSMS-initiated operations (domain verbs) by verb and outcome: accepted, refused (the station said no), "
    "call_error, timeout, offline, not_expressible, invalid_answer",
    ["verb", "outcome"],
)
QUEUED_COMMANDS = Counter(
    "ocppd_queued_commands_total",
    "Commands queued for offline stations, by what became of them: queued, delivered, failed, expired",
    ["outcome"],
)
SECURITY_EVENTS = Counter(
    "ocppd_security_events_total",
    "SecurityEventNotifications received, by severity (critical per the OCPP security event list)",
    ["severity"],
)
BALANCER_RUN = Histogram(
    "ocppd_balancer_allocation_seconds",
    "Time to compute one site's allocation (the pure balancer and its hysteresis pass)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
BALANCER_PROFILES = Counter(
    "ocppd_balancer_profiles_total",
    "Charging profiles the balancer sent, by kind (tx, evse_default, fallback) and the station's answer",
    ["kind", "result"],
)
BALANCER_OWNER = Gauge("ocppd_balancer_owner", "1 while this node holds the balancer lease (owns the balancing)")
BALANCER_EXCLUDED = Gauge("ocppd_balancer_excluded_stations", "Stations excluded from balancing (refuse profiles)")
SITE_ALLOCATED = Gauge(
    "ocppd_site_allocated_amps", "Current the balancer allocated on a site, per phase", ["site", "phase"]
)
SITE_LIMIT = Gauge(
    "ocppd_site_limit_amps",
    "A site's current limit now, per phase (configured, time of use, external)",
    ["site", "phase"],
)

# Billing (docs/billing.md)
COSTS_COMPUTED = Counter(
    "ocppd_billing_costs_computed_total",
    "Transaction cost computations, by why (ended, recomputed) and outcome (priced, no_tariff, flagged)",
    ["reason", "outcome"],
)
COST_UPDATES = Counter("ocppd_billing_cost_updates_total", "2.x CostUpdated sent, by outcome", ["outcome"])
SIGNED_VALUES = Counter(
    "ocppd_billing_signed_values_total", "Signed meter values kept, by verification verdict", ["verification"]
)
LOCAL_COSTS = Counter(
    "ocppd_billing_station_costs_total",
    "2.1 stations' own cost (costDetails) compared with the CSMS's, by outcome (agrees, differs)",
    ["outcome"],
)

# ---------------------------------------------------------------------- ocppd local-controller
LC_FORWARDED = Counter(
    "ocppd_lc_forwarded_frames_total",
    "Frames the local controller relayed unchanged: up (station to CSMS) and down (CSMS to station)",
    ["direction"],
)
LC_UNFORWARDED = Counter(
    "ocppd_lc_unforwarded_frames_total",
    "Station frames the local controller could not relay (no upstream connection): left unanswered",
)
LC_OWN_CALLS = Counter(
    "ocppd_lc_own_calls_total",
    "The local controller's own CALLs to stations, by action and outcome",
    ["action", "outcome"],
)
LC_STATIONS = Gauge("ocppd_lc_stations", "Stations connected to the local controller, by upstream state", ["upstream"])
LC_UPSTREAM_ATTEMPTS = Counter(
    "ocppd_lc_upstream_connects_total", "Upstream connection attempts for stations, by outcome", ["outcome"]
)
LC_IDENTITY_UP = Gauge("ocppd_lc_identity_connected", "1 while the controller's own upstream connection is open")
RESET_OUTCOMES = Counter(
    "ocppd_reset_outcomes_total",
    "Resets by what was observed after them (completed, not_observed, rejected, accepted EVSE resets, ...)",
    ["outcome"],
)
AVAILABILITY_CHANGES = Counter(
    "ocppd_availability_changes_total",
    "ChangeAvailability wishes by state reached (pending, scheduled, applied, rejected, failed, resent)",
    ["state"],
)

# OSCP 2.0 (docs/smart-charging.md#oscp-20)
OSCP_MESSAGES = Counter(
    "ocppd_oscp_messages_total",
    "OSCP messages, by direction (in, out), message and result (accepted, unauthorized, invalid, failed)",
    ["direction", "message", "result"],
)
OSCP_PEER_SILENT = Gauge(
    "ocppd_oscp_peer_silent", "1 while an OSCP capacity provider is silent (its groups on fallback)", ["peer"]
)
OSCP_GROUP_CAPACITY = Gauge(
    "ocppd_oscp_group_capacity_amps",
    "The per-phase capacity OSCP sets on a group's node now (forecast or fallback; NaN: none)",
    ["group", "phase"],
)
SETTINGS_SET = Counter(
    "ocppd_settings_set_total",
    "Settings sent (SetVariables items, ChangeConfiguration) by the station's answer: Accepted, RebootRequired, "
    "Rejected, ...; refused_before_sending: outside what the station declared, never sent",
    ["status"],
)
MONITOR_CHANGES = Counter(
    "ocppd_monitor_changes_total", "Variable monitors set, cleared and reconciled away, by what happened", ["change"]
)

# Files moved through ocppd (docs/device-management.md): kind firmware_upload, firmware_download, log_upload;
# outcome ok, forbidden (403: token), too_large (413), bad (400), interrupted (the client went away)
FILE_TRANSFERS = Counter("ocppd_file_transfers_total", "Files uploaded to / downloaded from ocppd, by kind and outcome",
                         ["kind", "outcome"])  # fmt: skip
CAMPAIGN_STATIONS = Counter(
    "ocppd_firmware_campaign_stations_total",
    "Stations of firmware campaigns reaching a final status (Installed, DownloadFailed, Missed, VersionMismatch, ...)",
    ["status"],
)
