"""Billing evidence: signed meter values as the station sent them (pure), and their export.

2.x: ``sampledValue.signedMeterValue`` (signedMeterData, signingMethod, encodingMethod, publicKey).
1.6: a sampled value with ``format: SignedData`` whose value is the signed blob (OCMF text, EDL, ...).
They are kept with the transaction for the life of the record, because the message log is pruned.
The XML export is the ``<values>`` file the S.A.F.E. transparency software reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from ocppd.csms.billing.signatures import unwrap_v16
from ocppd.csms.metering import parse_time

ENERGY_REGISTER = "Energy.Active.Import.Register"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def signed_values_v2x(meter_values: list[dict[str, Any]], evse_id: int) -> list[dict[str, Any]]:
    out = []
    for mv in meter_values:
        for sv in mv.get("sampledValue", []):
            signed = sv.get("signedMeterValue")
            if not signed:
                continue
            out.append(
                {
                    "evse_id": evse_id,
                    "timestamp": parse_time(mv["timestamp"]),
                    "context": sv.get("context"),
                    "measurand": sv.get("measurand", ENERGY_REGISTER),
                    "value": _number(sv.get("value")),
                    "signed_data": signed["signedMeterData"],
                    "encoding": signed.get("encodingMethod"),
                    "signing_method": signed.get("signingMethod"),
                    "public_key": signed.get("publicKey") or None,
                }
            )
    return out


def signed_values_v16(meter_values: list[dict[str, Any]], evse_id: int) -> list[dict[str, Any]]:
    out = []
    for mv in meter_values:
        for sv in mv.get("sampledValue", []):
            if sv.get("format") != "SignedData":
                continue
            # OCMF text, or the 2.x signedMeterValue object as JSON (a common 1.6 convention)
            data, encoding, method, public_key = unwrap_v16(str(sv.get("value", "")))
            out.append(
                {
                    "evse_id": evse_id,
                    "timestamp": parse_time(mv["timestamp"]),
                    "context": sv.get("context"),
                    "measurand": sv.get("measurand", ENERGY_REGISTER),
                    "value": None,
                    "signed_data": data,
                    "encoding": encoding,
                    "signing_method": method,
                    "public_key": public_key,
                }
            )
    return out


def transparency_xml(transaction_id: str, rows: Iterable[Any], station_keys: dict[int, str] | None = None) -> bytes:
    """The transaction's signed values as a S.A.F.E. transparency software ``<values>`` document.
    ``station_keys``: the meters' keys the station reported per EVSE (0: the station's), used for values
    that carry none."""
    root = etree.Element("values")
    last_key: dict[int, str] = {}  # a station may send its key once per transaction (OncePerTransaction)
    reported = station_keys or {}
    for row in rows:
        key_text = row.public_key or last_key.get(row.evse_id) or reported.get(row.evse_id) or reported.get(0)
        if row.public_key:
            last_key[row.evse_id] = row.public_key
        value = etree.SubElement(root, "value", transactionId=transaction_id, context=row.context or "")
        fmt = (row.encoding or "").split("/")[0] or "OCMF"
        signed = etree.SubElement(value, "signedData", format=fmt, encoding="plain")
        signed.text = row.signed_data
        if key_text:
            key = etree.SubElement(value, "publicKey", encoding="plain")
            key.text = key_text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
