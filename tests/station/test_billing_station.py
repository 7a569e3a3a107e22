"""The simulator's billing side against a real ``ocppd serve``: 2.0.1 and 2.1 stations show the cost the
CSMS tells them (CostUpdated at the configured interval, totalCost while charging and at the end), and
1.6 / 2.0.1 / 2.1 stations send OCMF-signed readings that verify with the key the CSMS reads from them
(FiscalMetering.PublicKey per EVSE, 1.6 MeterPublicKey[n]), also after the message log is pruned."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from rich.console import Console

from ocppd.protocol.versions import OcppVersion
from ocppd.station.fleet import Fleet
from ocppd.station.view import LiveView
from tests.api.conftest import bearer, create_key, eventually, new_station_id, ok
from tests.billing.station import prune_when_logged
from tests.csms_process import CsmsProcess, run_csms
from tests.station.conftest import fast_config

TARIFF = {"currency": "EUR", "vat": "0", "text": {"en": "0.40 EUR/kWh + 1 EUR"},
          "elements": [{"price_components": [{"type": "ENERGY", "price": "0.40"},
                                             {"type": "FLAT", "price": "1.00"}]}]}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {"OCPPD_BILLING__COST_UPDATE_INTERVAL_S": "1"}
    with run_csms(tmp_path_factory.mktemp("station-billing"), extra_env=env) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


async def _priced(api: httpx.AsyncClient, sid: str, tag: str) -> None:
    ok(await api.put(f"/api/v1/tariffs/t-{sid}", json={"tariff": TARIFF, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"t-{sid}", "station_id": sid}), 201)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag, "status": "Accepted"}), 201)


def _tag(sid: str) -> str:
    return f"04{int(sid.rsplit('-', 1)[1]):06X}"


async def _read_meter_key(api: httpx.AsyncClient, sid: str, version: OcppVersion) -> dict[str, Any]:
    if version is OcppVersion.V16:
        body: dict[str, Any] = {"keys": ["MeterPublicKey[1]"]}
        return ok(await api.post(f"/api/v1/stations/{sid}/commands/get-configuration", json=body))
    body = {"variables": [{"component": "FiscalMetering", "variable": "PublicKey", "evse_id": 1}]}
    return ok(await api.post(f"/api/v1/stations/{sid}/commands/get-variables", json=body))


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
async def test_simulated_session_cost_shown_and_signed_readings_verified(
    server: CsmsProcess, api: httpx.AsyncClient, version: OcppVersion
) -> None:
    sid = new_station_id("SIMB")
    tag = _tag(sid)
    await _priced(api, sid, tag)
    config = fast_config(sid, server.ws_url, version, signed_meter_values=True, id_tags=[tag])
    async with Fleet([config], scenario=None) as fleet:
        st = fleet.stations[0]
        await st.wait_booted(15)
        st.plug_in(1)
        tx = await st.start_transaction(1, tag)
        assert tx is not None
        if version is not OcppVersion.V16:

            async def cost_while_charging() -> bool:
                entry = st.costs.get(tx.ref)
                return entry is not None and entry["updates"] >= 3 and not entry["final"]

            await eventually(cost_while_charging, "CostUpdated / totalCost while charging", deadline=30)
            assert st.costs[tx.ref]["total"] >= 1.00  # the session fee at least
        await _read_meter_key(api, sid, version)
        st.stop_transaction(1, "Local")
        assert await st.flush(15)
        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        cost = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["current"]
        if version is not OcppVersion.V16:

            async def final() -> bool:
                return bool(st.costs[tx.ref]["final"])

            await eventually(final, "the final totalCost", deadline=15)
            assert st.costs[tx.ref]["total"] == pytest.approx(float(cost["incl_vat"]))
            assert st.costs[tx.ref]["source"] == "TransactionEventResponse"
        else:
            assert st.costs == {}  # 1.6 has no cost messages
        summary = fleet.summary()  # the simulator's JSON summary
        assert st.meters is not None and summary["signed_readings"] == st.meters.signed >= 2
        if version is not OcppVersion.V16:
            shown = summary["cost"]["transactions"][f"{sid}/{tx.ref}"]
            assert shown == {"total": st.costs[tx.ref]["total"], "final": True,
                             "source": "TransactionEventResponse", "updates": st.costs[tx.ref]["updates"]}  # fmt: skip
            assert summary["cost"]["messages"] >= 4
            assert fleet.last_cost() == f"{sid} {tx.ref}: {st.costs[tx.ref]['total']:.2f} (final)"
            console = Console(record=True, width=200)
            console.print(LiveView(fleet, console=console).render())
            shown_text = console.export_text()
            assert "last cost" in shown_text
            assert f"{sid} {tx.ref}: {st.costs[tx.ref]['total']:.2f} (final)" in shown_text

    keys = ok(await api.get(f"/api/v1/stations/{sid}/meter-keys"))
    assert [k["public_key"] for k in keys] == [st.meters.public_key_hex(1)]
    frames = len(ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"limit": 1000})))
    await prune_when_logged(server, api, sid, frames=frames)
    kept = ok(await api.get(f"/api/v1/transactions/{pk}/signed-values"))
    assert kept["values"], "no signed values kept"
    assert set(kept["summary"]) == {"verified"}, kept["values"]
    contexts = {v["context"] for v in kept["values"]}
    assert {"Transaction.Begin", "Transaction.End"} <= contexts


def test_a_meter_key_file_signs_every_meter_and_a_bad_one_stops_the_template(tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ocppd.csms.billing.signatures import VERIFIED, verify
    from ocppd.station.metering import FiscalMeters, load_private_key
    from ocppd.station.template import StationGroup, Template, TemplateError, expand

    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "meter.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    [config] = expand(Template(stations=[StationGroup(ocpp="2.0.1", evses=[1, 1], meter_key_file=str(pem))]),
                      "ws://127.0.0.1:1/ocpp")  # fmt: skip
    assert config.signed_meter_values and config.meter_key_file == str(pem)
    meters = FiscalMeters([1, 2], "SN1", load_private_key(str(pem)))
    assert meters.shared_key_hex() == meters.public_key_hex(2)
    data = meters.ocmf(2, 1234.5, 1_780_000_000.0, "Transaction.End", "04A10001")
    assert '"RV":1.2345' in data and '"TX":"E"' in data
    assert verify(data, "OCMF", None, meters.public_key_hex(2)).status == VERIFIED

    other = tmp_path / "rsa.pem"
    other.write_text("not a key")
    with pytest.raises(TemplateError, match="meter_key_file"):
        expand(Template(stations=[StationGroup(meter_key_file=str(other))]), "ws://127.0.0.1:1/ocpp")
