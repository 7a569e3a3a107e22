"""Signed meter values verified with the meter key the station reports (FiscalMetering.PublicKey per EVSE),
against a real ``ocppd serve`` and an `ocpp`-package 2.0.1 station: kept after the message log is pruned,
each value's verdict in the API, the CDR, the XML and the CSV export."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree

from tests.api.conftest import bearer, create_key, new_station_id, ok
from tests.billing.ocmf import new_key, ocmf, public_hex
from tests.billing.station import cost_station, prune_when_logged
from tests.csms_process import CsmsProcess, run_csms


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("billing-signatures")) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


def signed(data: str, public_key: str | None = None) -> dict[str, str]:
    out = {
        "signed_meter_data": base64.b64encode(data.encode()).decode(),
        "signing_method": "",
        "encoding_method": "OCMF",
    }
    # 2.0.1 requires publicKey: empty when the station does not send it with the value
    return out | {"public_key": base64.b64encode(bytes.fromhex(public_key)).decode() if public_key else ""}


async def test_signed_values_verify_with_the_reported_meter_key_after_the_log_is_pruned(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("SIGN")
    meter = new_key()
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    async with cost_station(server.ws_url, sid) as st:
        st.device_model[("FiscalMetering", 1, "PublicKey")] = public_hex(meter)
        begin = ocmf(meter, 0.0)
        await st.event(
            "Started", "tx-s1", start.isoformat(), energy_wh=0, charging_state="Charging", signed=signed(begin)
        )
        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        [first] = ok(await api.get(f"/api/v1/transactions/{pk}/signed-values"))["values"]
        assert (first["verification"], first["verification_detail"]) == (
            "unverifiable",
            "no public key known for this meter",
        )

        # the operator reads the meter key: it is stored per EVSE, and the waiting value is checked again
        read = {"variables": [{"component": "FiscalMetering", "variable": "PublicKey", "evse_id": 1}]}
        ok(await api.post(f"/api/v1/stations/{sid}/commands/get-variables", json=read))
        keys = ok(await api.get(f"/api/v1/stations/{sid}/meter-keys"))
        assert [(k["evse_id"], k["public_key"], k["variable"]) for k in keys] == [
            (1, public_hex(meter), "FiscalMetering@evse1/PublicKey")
        ]

        tampered = ocmf(meter, 2.0).replace('"RV":2.0', '"RV":20.0')
        await st.event(
            "Ended", "tx-s1", (start + timedelta(hours=1)).isoformat(), energy_wh=2_000, signed=signed(tampered)
        )

    await prune_when_logged(server, api, sid, frames=8)  # boot, events (and reads): CALLs and answers
    kept = ok(await api.get(f"/api/v1/transactions/{pk}/signed-values"))
    assert [v["verification"] for v in kept["values"]] == ["verified", "failed"]
    assert kept["values"][1]["verification_detail"] == "the signature does not match the data and key"
    assert kept["values"][0]["meter_key"] == public_hex(meter)
    assert kept["summary"] == {"verified": 1, "failed": 1}

    cdr = ok(await api.get(f"/api/v1/transactions/{pk}/cdr"))
    assert [v["verification"] for v in cdr["signed_values"]] == ["verified", "failed"]
    xml = etree.fromstring(
        (await api.get(f"/api/v1/transactions/{pk}/signed-values", params={"format": "xml"})).content
    )
    assert [k.text for k in xml.iter("publicKey")] == [public_hex(meter)] * 2  # the reported key, for each value
    exported = await api.get("/api/v1/billing/export", params={"station": sid})
    assert [r["signatures"] for r in csv.DictReader(io.StringIO(exported.text))] == ["failed:1 verified:1"]
    assert 'ocppd_billing_signed_values_total{verification="failed"}' in (await api.get("/metrics")).text


async def test_a_value_signed_by_another_key_than_the_reported_one_fails(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("SIGN")
    meter, forger = new_key(), new_key()
    start = datetime(2026, 6, 10, 12, tzinfo=UTC)
    async with cost_station(server.ws_url, sid) as st:
        st.device_model[("FiscalMetering", None, "PublicKey")] = public_hex(meter)  # the station's one meter
        read = {"variables": [{"component": "FiscalMetering", "variable": "PublicKey"}]}
        ok(await api.post(f"/api/v1/stations/{sid}/commands/get-variables", json=read))
        good = signed(ocmf(meter, 0.0))
        await st.event("Started", "tx-s2", start.isoformat(), energy_wh=0, charging_state="Charging", signed=good)
        forged = signed(ocmf(forger, 5.0), public_key=public_hex(forger))  # carries its own key
        await st.event("Ended", "tx-s2", (start + timedelta(hours=1)).isoformat(), energy_wh=5_000, signed=forged)
    pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
    values = ok(await api.get(f"/api/v1/transactions/{pk}/signed-values"))["values"]
    assert [v["verification"] for v in values] == ["verified", "failed"]
    assert "not the meter key the station reported" in values[1]["verification_detail"]
