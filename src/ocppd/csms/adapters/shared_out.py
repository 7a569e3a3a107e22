"""Pieces of outbound plans that the 1.6 and 2.x adapters share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ocppd.csms import verbs as v
from ocppd.csms.outbound import Call, Payload, Plan, drop_none, iso, iso_or_none, next_request_id


def local_list_plan(verb: v.SendLocalList, payloads: list[Payload]) -> Plan[v.Status]:
    """A list longer than the station takes in one message: the first part with the verb's update type,
    the rest as differential updates, all with the list's version (which 1.6 and 2.x define as "the
    version after this update"). The result is the first refusal, or Accepted."""
    calls = [
        Call("SendLocalList", {**p, "updateType": verb.update_type if i == 0 else "Differential"})
        for i, p in enumerate(payloads)
    ]

    def decode(answers: list[Payload]) -> v.Status:
        for a in answers:
            if a["status"] != "Accepted":
                return v.Status(a["status"], (a.get("statusInfo") or {}).get("reasonCode"))
        return v.Status("Accepted")

    return Plan(calls, decode)


def get_log_plan(verb: v.GetLog) -> Plan[v.LogRequested]:
    """GetLog as 2.x defines it and the 1.6 security extension copied it (same fields, same answer)."""
    log = drop_none(
        {
            "remoteLocation": verb.location,
            "oldestTimestamp": iso_or_none(verb.since),
            "latestTimestamp": iso_or_none(verb.until),
        }
    )
    payload = drop_none(
        {
            "logType": verb.log_type,
            "requestId": verb.request_id if verb.request_id is not None else next_request_id(),
            "log": log,
            "retries": verb.retries,
            "retryInterval": verb.retry_interval_s,
        }
    )
    return Plan.single("GetLog", payload, lambda a: v.LogRequested(a["status"], a.get("filename")))


def signed_firmware_plan(verb: v.UpdateFirmware, action: str, decode: Callable[[Payload], v.Status]) -> Plan[v.Status]:
    """2.x UpdateFirmware and the 1.6 security extension's SignedUpdateFirmware (its copy: same fields)."""
    firmware = drop_none(
        {
            "location": verb.location,
            "retrieveDateTime": iso(verb.retrieve_at or datetime.now(UTC)),
            "installDateTime": iso_or_none(verb.install_at),
            "signingCertificate": verb.signing_certificate,
            "signature": verb.signature,
        }
    )
    payload = drop_none(
        {
            "requestId": verb.request_id if verb.request_id is not None else next_request_id(),
            "firmware": firmware,
            "retries": verb.retries,
            "retryInterval": verb.retry_interval_s,
        }
    )
    return Plan.single(action, payload, decode)
