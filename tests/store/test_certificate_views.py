"""The operator's certificate views (csms/certificates.py over security_repo) on SQLite and PostgreSQL:
everything stations hold by expiry, keyset-paged through ties; which issued certificate is a station's
own; counts per type; finding a certificate by serial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ocppd.csms import certificates as views
from ocppd.store import Store, security_repo
from tests.pki import Ca

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _installed(kind: str, serial: str, days: float | None) -> dict[str, Any]:
    return {"certificate_type": kind, "hash_algorithm": "SHA256", "issuer_name_hash": "aa", "issuer_key_hash": "bb",
            "serial_number": serial, "subject": f"CN={serial}", "source": "reported",
            "not_after": None if days is None else NOW + timedelta(days=days)}  # fmt: skip


async def _issue(store: Store, pem: str, station_id: str, serial: str, days: float, age_days: float,
                 status: str) -> None:  # fmt: skip
    await store.write(security_repo.add_issued_certificate, serial, station_id, "ChargingStationCertificate",
                      f"CN={station_id}", "CN=ca", NOW - timedelta(days=400), NOW + timedelta(days=days), pem,
                      NOW - timedelta(days=age_days))  # fmt: skip
    await store.write(security_repo.set_certificate_status, serial, status)


async def test_held_by_expiry_own_certificates_counts_and_serials(store: Store, tmp_path: Path) -> None:
    pem = Ca.create(tmp_path, "issued").pem.read_text()  # stands for each issued one: only show reads it
    # CS-1: an old certificate, superseded by a newer one that is then revoked: neither is its own now.
    await _issue(store, pem, "CS-1", "0A", days=5, age_days=300, status="accepted")
    await _issue(store, pem, "CS-1", "0B", days=300, age_days=1, status="accepted")
    assert await store.write(security_repo.revoke_certificate, "0B", NOW, "keyCompromise")
    # CS-2: its own is the newest accepted; a newer one it rejected does not count.
    await _issue(store, pem, "CS-2", "1A", days=20, age_days=10, status="accepted")
    await _issue(store, pem, "CS-2", "1B", days=360, age_days=2, status="rejected")
    for station_id, rows in {
        "CS-1": [_installed("CSMSRootCertificate", "c1", -1), _installed("MORootCertificate", "c2", None)],
        "CS-2": [_installed("CSMSRootCertificate", "c3", 20), _installed("V2GRootCertificate", "c4", 20)],
    }.items():  # fmt: skip
        await store.write(security_repo.replace_installed_certificates, station_id, None, rows, NOW)

    everything, last = await store.read(lambda c: views.expiring_op(c, now=NOW))
    held = [(r["station_id"], r["kind"], r["serial"]) for r in everything]
    assert held == [("CS-1", "installed", "c1"), ("CS-2", "installed", "c3"), ("CS-2", "installed", "c4"),
                    ("CS-2", "issued", "1A")] and last is None  # fmt: skip
    assert everything[0]["days_left"] == -1.0

    # pages of one row each through the three that expire at the same moment: each once, in order
    seen, after = [], None
    while True:
        page, after = await store.read(lambda c, a=after: views.expiring_op(c, after=a, limit=1, now=NOW))
        seen += [(r["station_id"], r["kind"], r["serial"]) for r in page]
        if after is None:
            break
    assert seen == held

    soon, _ = await store.read(lambda c: views.expiring_op(c, within_days=10, now=NOW))
    assert [r["serial"] for r in soon] == ["c1"]
    typed, _ = await store.read(lambda c: views.expiring_op(c, certificate_type="CSMSRootCertificate", now=NOW))
    assert [r["serial"] for r in typed] == ["c1", "c3"]
    mine, _ = await store.read(lambda c: views.expiring_op(c, station_id="CS-2", now=NOW))
    assert [r["serial"] for r in mine] == ["c3", "c4", "1A"]

    one = await store.read(views.station_view_op, "CS-1", NOW)
    assert one is not None and one["own"] == [] and [r["state"] for r in one["issued"]] == ["revoked", "superseded"]
    two = await store.read(views.station_view_op, "CS-2", NOW)
    assert two is not None and [r["serial"] for r in two["own"]] == ["1A"]
    assert [r["state"] for r in two["issued"]] == ["rejected", "accepted"]
    assert await store.read(views.station_view_op, "NOPE", NOW) is None

    summary = await store.read(views.summary_op, 30, NOW)
    by_type = {r["certificate_type"]: r for r in summary["by_type"]}
    assert by_type["CSMSRootCertificate"] | {"soonest": None} == {
        "certificate_type": "CSMSRootCertificate", "total": 2, "expired": 1, "expiring": 1, "unknown": 0,
        "soonest": None}  # fmt: skip
    assert by_type["CSMSRootCertificate"]["soonest"] == NOW - timedelta(days=1)
    assert by_type["MORootCertificate"]["unknown"] == 1 and by_type["MORootCertificate"]["soonest"] is None
    assert by_type["ChargingStationCertificate"]["total"] == 1  # only CS-2's own
    assert (summary["total"], summary["expired"], summary["expiring"], summary["unknown"]) == (5, 1, 3, 1)

    found = await store.read(views.find_op, "0x000a", None)  # serials compare as numbers
    assert [(f["kind"], f["serial"]) for f in found] == [("issued", "0A")]
    assert found[0]["details"]["subject"] == "CN=issued,O=ocppd tests" and found[0]["details"]["key"] == "EC secp256r1"
    found = await store.read(views.find_op, "C3", "CS-2")
    assert [(f["kind"], f["serial_number"]) for f in found] == [("installed", "c3")]
    assert await store.read(views.find_op, "C3", "CS-1") == []


async def test_presented_certificate_kept_once_per_serial_and_listed_by_expiry(store: Store, tmp_path: Path) -> None:
    ca = Ca.create(tmp_path, "presented")
    record = views.presented_record(ca.certificate.public_bytes(serialization.Encoding.DER), NOW)
    assert await store.write(security_repo.set_presented_certificate, "CS-9", record)
    later = {**record, "seen_at": NOW + timedelta(days=1)}
    assert not await store.write(security_repo.set_presented_certificate, "CS-9", later)
    view = await store.read(views.station_view_op, "CS-9", NOW)
    assert view is not None
    shown = view["presented"]
    assert shown["serial"] == record["serial"] and shown["subject"] == "CN=presented,O=ocppd tests"
    assert shown["seen_at"] == NOW  # the first sighting of this serial
    assert [v["station_id"] for v in await store.read(views.views_op)] == ["CS-9"]
    held, _ = await store.read(lambda c: views.expiring_op(c, now=NOW))
    assert [(r["kind"], r["serial"], r["certificate_type"]) for r in held] == [
        ("presented", record["serial"], "ChargingStationCertificate")]  # fmt: skip
    # one our CA issued is listed once, as the station's own
    await _issue(store, ca.pem.read_text(), "CS-9", record["serial"], days=1, age_days=1, status="accepted")
    held, _ = await store.read(lambda c: views.expiring_op(c, now=NOW))
    assert [(r["kind"], r["serial"]) for r in held] == [("issued", record["serial"])]
