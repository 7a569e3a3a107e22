"""Billing evidence and reports against a real ``ocppd serve``: signed meter values outlive the
message log, the transparency-software export, the CDR, the streamed export with cost, per-day totals."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree

from ocppd.csms.billing.evidence import signed_values_v16
from tests.api.conftest import bearer, create_key, new_station_id, ok
from tests.billing.station import cost_station, prune_when_logged
from tests.csms_process import CsmsProcess, run_csms

OCMF = 'OCMF|{"FV":"1.0","GI":"ACME","RD":[{"TM":"2026-06-10T10:00:00,000+0000 S","RV":0.0,"RU":"kWh"}]}|{"SD":"3045"}'
PUBLIC_KEY = "3059301306072A8648CE3D020106082A8648CE3D03010703420004AB"
TARIFF = {"currency": "EUR", "vat": "19", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50"}]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("billing-evidence")) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


def signed(data: str) -> dict[str, str]:
    return {
        "signed_meter_data": data,
        "signing_method": "ECDSA-secp256r1-SHA256",
        "encoding_method": "OCMF",
        "public_key": PUBLIC_KEY,
    }


async def test_signed_values_outlive_the_message_log_and_export_for_transparency_software(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("EVID")
    ok(await api.put(f"/api/v1/tariffs/e-{sid}", json={"tariff": TARIFF, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"e-{sid}", "station_id": sid}), 201)
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    end = start + timedelta(hours=1)
    async with cost_station(server.ws_url, sid) as st:
        await st.event(
            "Started", "tx-e1", start.isoformat(), energy_wh=0, charging_state="Charging", signed=signed(OCMF)
        )
        await st.event("Ended", "tx-e1", end.isoformat(), energy_wh=2_000, signed=signed(OCMF.replace("0.0", "2.0")))

    await prune_when_logged(server, api, sid, frames=6)  # boot, events (and reads): CALLs and answers

    pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
    kept = ok(await api.get(f"/api/v1/transactions/{pk}/signed-values"))["values"]
    assert [v["context"] for v in kept] == ["Transaction.Begin", "Transaction.End"]
    assert kept[0]["signed_data"] == OCMF
    assert kept[0]["public_key"] == PUBLIC_KEY

    xml = await api.get(f"/api/v1/transactions/{pk}/signed-values", params={"format": "xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(xml.content)
    assert [v.get("transactionId") for v in root.iter("value")] == ["tx-e1", "tx-e1"]
    assert root.find("value/signedData").text == OCMF
    assert root.find("value/publicKey").text == PUBLIC_KEY

    cdr = ok(await api.get(f"/api/v1/transactions/{pk}/cdr"))
    assert cdr["total_cost"] == {"excl_vat": "1.00", "vat": "0.19", "incl_vat": "1.19"}
    assert cdr["total_energy_kwh"] == "2.000"
    assert cdr["start_date_time"].startswith("2026-06-10T10:00")
    assert len(cdr["signed_values"]) == 2
    assert cdr["cost_lines"][0]["dimension"] == "ENERGY"

    daily = ok(await api.get("/api/v1/billing/daily", params={"station_id": sid}))
    assert daily == [
        {
            "day": "2026-06-10",
            "currency": "EUR",
            "transactions": 1,
            "energy_wh": 2000.0,
            "excl_vat": "1.00",
            "incl_vat": "1.19",
        }
    ]

    exported = await api.get("/api/v1/billing/export", params={"station": sid})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["transaction_uid"], r["incl_vat"], r["currency"]) for r in rows] == [("tx-e1", "1.19", "EUR")]
    lines = (await api.get("/api/v1/billing/export", params={"station": sid, "format": "json"})).text.splitlines()
    assert json.loads(lines[0])["excl_vat"] == "1.00"


def test_16_signed_data_values_are_recognised() -> None:
    values = [
        {
            "timestamp": "2026-06-10T10:00:00Z",
            "sampledValue": [
                {"value": "1234", "measurand": "Energy.Active.Import.Register"},
                {"value": OCMF, "format": "SignedData", "context": "Transaction.Begin"},
            ],
        }
    ]
    [kept] = signed_values_v16(values, 1)
    assert kept["signed_data"] == OCMF
    assert kept["encoding"] == "OCMF"
    assert kept["context"] == "Transaction.Begin"


def test_a_key_sent_once_per_transaction_goes_with_every_value_in_the_xml() -> None:
    from types import SimpleNamespace

    from ocppd.csms.billing.evidence import transparency_xml

    def row(key: str | None) -> SimpleNamespace:
        return SimpleNamespace(evse_id=1, context="Sample.Periodic", encoding="OCMF", signed_data=OCMF, public_key=key)

    root = etree.fromstring(transparency_xml("tx", [row(PUBLIC_KEY), row(None)]))
    assert [k.text for k in root.iter("publicKey")] == [PUBLIC_KEY, PUBLIC_KEY]
