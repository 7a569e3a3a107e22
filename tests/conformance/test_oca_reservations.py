"""OCA Reservation cases: 1.6 TC_046-TC_053 and 2.0.1 block H, against ``ocppd serve`` with the
``ocpp`` package as the station; the reservation is driven through the API as the operator would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conformance.stations import Station16, Station201, add_tokens, connect, eventually, new_id, ts
from tests.csms_process import CsmsProcess


def later(seconds: float = 600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def reserve(api: httpx.AsyncClient, station: str, token: str, **body: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/reservations", json={"station_id": station, "id_token": token,
                                                            "expires_at": later(), **body})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_tc_046_reservation_of_a_connector_used_by_its_transaction(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-046")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-046", evse_id=1)
        [sent] = cp.requests("ReserveNow")
        assert sent["connector_id"] == 1 and sent["id_tag"] == "RES-046" and sent["reservation_id"] == made["id"]
        assert made["status"] == "Accepted"
        await cp.status(1, "Reserved")
        started = await cp.start_tx("RES-046", reservation_id=made["id"])
        assert started.id_tag_info["status"] == "Accepted"
    used = (await api.get(f"/api/v1/reservations/{made['id']}")).json()
    assert used["status"] == "Used" and used["transaction_id"] is not None
    [tx] = (await api.get("/api/v1/transactions", params={"station": station})).json()
    assert tx["reservation_id"] == made["id"]


async def test_tc_047_reservation_expires(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-047")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-047", evse_id=1, expires_at=later(2))
        assert cp.requests("ReserveNow")[0]["expiry_date"]

        async def expired() -> bool:
            return (await api.get(f"/api/v1/reservations/{made['id']}")).json()["status"] == "Expired"

        await eventually(expired, "the reservation marked expired")


async def test_tc_048_reservation_refusals_recorded(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    """TC_048_1 Faulted, TC_048_2 Occupied, TC_048_3 Unavailable, TC_048_4 Rejected."""
    station = new_id("RES16")
    add_tokens(csms, "RES-048")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        for status in ("Faulted", "Occupied", "Unavailable", "Rejected"):
            cp.answers["ReserveNow"] = {"status": status}
            made = await reserve(api, station, "RES-048", evse_id=1)
            assert made["status"] == status and status in made["note"]
    live = (await api.get("/api/v1/reservations", params={"station": station, "live": "true"})).json()
    assert live == []


async def test_tc_049_reservation_of_a_charge_point_any_connector(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-049")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-049", evse_id=0)
        assert cp.requests("ReserveNow")[0]["connector_id"] == 0
        await cp.start_tx("RES-049", connector=2)  # no reservationId: matched by its token, any connector
    assert (await api.get(f"/api/v1/reservations/{made['id']}")).json()["status"] == "Used"


async def test_tc_051_cancel_reservation(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-051")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-051", evse_id=1)
        cancelled = await api.post(f"/api/v1/reservations/{made['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "Cancelled"
        assert cp.requests("CancelReservation") == [{"reservation_id": made["id"]}]
        again = await api.post(f"/api/v1/reservations/{made['id']}/cancel")
        assert again.status_code == 400 and "reservation_id" in again.text


async def test_tc_052_cancel_reservation_rejected_keeps_it(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-052")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-052", evse_id=1)
        cp.answers["CancelReservation"] = {"status": "Rejected"}
        kept = (await api.post(f"/api/v1/reservations/{made['id']}/cancel")).json()
        assert kept["status"] == "Accepted" and "Rejected" in kept["note"]


async def test_tc_053_reserved_connector_used_with_parent_id_tag(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    add_tokens(csms, "RES-053-A", "RES-053-B", group="RES-053-PARENT")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-053-A", evse_id=1)
        assert cp.requests("ReserveNow")[0]["parent_id_tag"] == "RES-053-PARENT"
        started = await cp.start_tx("RES-053-A", reservation_id=made["id"])
        auth = await cp.call_authorize_info("RES-053-B")
        assert auth == {"status": "Accepted", "parent_id_tag": "RES-053-PARENT"}
        stop = await cp.stop_tx(started.transaction_id, 1500, id_tag="RES-053-B")
        assert stop.id_tag_info["parent_id_tag"] == "RES-053-PARENT"


async def test_reservation_operator_input_checked(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        past = await api.post("/api/v1/reservations", json={"station_id": station, "id_token": "X",
                                                             "expires_at": later(-60)})  # fmt: skip
        assert past.status_code == 400 and past.json()["detail"].startswith("expires_at")
        assert cp.requests("ReserveNow") == []
    unknown = await api.post("/api/v1/reservations", json={"station_id": "NOPE", "id_token": "X",
                                                            "expires_at": later()})  # fmt: skip
    assert unknown.status_code == 404
    offline = await api.post("/api/v1/reservations", json={"station_id": station, "id_token": "X",
                                                            "expires_at": later()})  # fmt: skip
    assert offline.status_code == 409
    assert (await api.get("/api/v1/reservations/999999")).status_code == 404


async def test_tc_h_01_h_08_h_15_h_19_reserve_specific_unspecified_type_group(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("RES201")
    add_tokens(csms, "RES-H01", group="RES-H19-GROUP")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await reserve(api, station, "RES-H01", evse_id=1)  # H_01 (and H_19: the token's group goes along)
        await reserve(api, station, "RES-H01")  # H_08: evseId omitted
        await reserve(api, station, "RES-H01", connector_type="cType2")  # H_15
        specific, anywhere, typed = cp.requests("ReserveNow")
    assert specific["evse_id"] == 1 and "connector_type" not in specific
    assert specific["id_token"] == {"id_token": "RES-H01", "type": "Central"}
    assert specific["group_id_token"]["id_token"] == "RES-H19-GROUP"
    assert "evse_id" not in anywhere and "connector_type" not in anywhere
    assert "evse_id" not in typed and typed["connector_type"] == "cType2"
    assert len({specific["id"], anywhere["id"], typed["id"]}) == 3


async def test_tc_h_07_reservation_expired_by_the_station(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES201")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-H07", evse_id=1)
        await cp.status(1, "Reserved")
        await cp.status(1, "Available")
        await cp.reservation_status(made["id"], "Expired")
        await cp.reservation_status(987654, "Removed")  # never made: recorded, changes nothing
    assert (await api.get(f"/api/v1/reservations/{made['id']}")).json()["status"] == "Expired"
    kinds = [e["kind"] for e in (await api.get(f"/api/v1/stations/{station}/notifications")).json()]
    assert "UnsolicitedReservationStatus" in kinds


async def test_tc_h_17_h_20_cancel_and_removed_when_faulted(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES201")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        first = await reserve(api, station, "RES-H17", evse_id=1)
        cancelled = (await api.post(f"/api/v1/reservations/{first['id']}/cancel")).json()
        assert cancelled["status"] == "Cancelled"
        assert cp.requests("CancelReservation") == [{"reservation_id": first["id"]}]
        second = await reserve(api, station, "RES-H20", evse_id=1)
        await cp.status(1, "Faulted")
        await cp.reservation_status(second["id"], "Removed")
    assert (await api.get(f"/api/v1/reservations/{second['id']}")).json()["status"] == "Removed"


async def test_tc_h_22_reserve_rejected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES201")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        cp.answers["ReserveNow"] = {"status": "Rejected"}
        made = await reserve(api, station, "RES-H22", evse_id=1)
    assert made["status"] == "Rejected"


async def test_v201_transaction_event_uses_the_reservation(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES201")
    add_tokens(csms, "RES-TE")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-TE", evse_id=1)
        answer = await cp.event("Started", tx_id, "Authorized", token="RES-TE", wh=0, reservation_id=made["id"],
                                timestamp=ts())  # fmt: skip
        assert answer.id_token_info["status"] == "Accepted"
    assert (await api.get(f"/api/v1/reservations/{made['id']}")).json()["status"] == "Used"


async def test_reservation_cli_create_list_cancel(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    import asyncio
    import json

    station = new_id("RES16")
    add_tokens(csms, "RES-CLI")
    until = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        out = await asyncio.to_thread(csms.cli, "reservations", "create", station, "RES-CLI", "--expires", until,
                                      "--evse", "1")  # fmt: skip
        made = json.loads(out.stdout)
        assert made["status"] == "Accepted" and cp.requests("ReserveNow")[0]["connector_id"] == 1
        listed = json.loads((await asyncio.to_thread(csms.cli, "reservations", "list", "--station", station,
                                                     "--json")).stdout)  # fmt: skip
        assert [r["id"] for r in listed] == [made["id"]]
        await asyncio.to_thread(csms.cli, "reservations", "cancel", str(made["id"]))
        assert cp.requests("CancelReservation") == [{"reservation_id": made["id"]}]
        past = await asyncio.to_thread(csms.cli, "reservations", "create", station, "RES-CLI", "--expires",
                                       "2020-01-01T00:00:00", check=False)  # fmt: skip
        assert past.returncode == 2 and "--expires" in past.stderr


async def test_tc_h_14_unspecified_evse_one_reservation_per_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("RES201")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        made = [await reserve(api, station, f"RES-H14-{evse}") for evse in (1, 2)]
        for evse in (1, 2):
            await cp.status(evse, "Reserved")
        sent = cp.requests("ReserveNow")
    assert [s.get("evse_id") for s in sent] == [None, None]
    assert [m["status"] for m in made] == ["Accepted", "Accepted"] and made[0]["id"] != made[1]["id"]


async def test_dashboard_station_page_shows_reservations_and_local_list(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    import re

    station = new_id("RES16")
    add_tokens(csms, "RES-WEB")
    user = new_id("web-admin").lower()
    csms.cli("users", "add", user, "--password", "correct horse battery", "--role", "admin")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        made = await reserve(api, station, "RES-WEB", evse_id=1)
        assert (
            await api.put(f"/api/v1/stations/{station}/local-list", json={"tokens": ["RES-WEB"]})
        ).status_code == 200
        async with httpx.AsyncClient(base_url=csms.http_url, timeout=60) as browser:
            page = await browser.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf, page.text
            form = {"csrf_token": csrf.group(1), "next": "/", "username": user, "password": "correct horse battery"}
            assert (await browser.post("/login", data=form)).status_code == 303
            html = (await browser.get(f"/stations/{station}")).text
    assert f"POST /api/v1/reservations/{made['id']}/cancel" in html and 'id="form-reserve"' in html
    assert re.search(r'id="local-list-state">Version 1 \(station: 1\), Synced', html), html[-2000:]
