"""OCA N_46 (CSMS side): clearing a customer's information on a station whose local list ocppd manages
takes the token off that list by a differential SendLocalList (version + 1, the token without
idTokenInfo). Against ``ocppd serve`` (SQLite, PostgreSQL) and a station of the ``ocpp`` package."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.routing import after, on
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.conformance.stations import Station201, add_tokens, connect, eventually, new_id, ts
from tests.csms_process import CsmsProcess


class CustomerStation(Station201):
    @on("CustomerInformation")
    async def on_customer_information(self, **p: Any) -> r201.CustomerInformation:
        return r201.CustomerInformation(**{"status": "Accepted", **self.got("CustomerInformation", p)})

    @after("CustomerInformation")
    async def after_customer_information(self, request_id: int, **p: Any) -> None:
        await self.call(c201.NotifyCustomerInformation(data="cleared", seq_no=0, generated_at=ts(),
                                                       request_id=request_id))  # fmt: skip


async def test_tc_n_46_clear_customer_information_updates_the_local_list(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("N46")
    add_tokens(csms, "04E46001", "04E46002", token_type="ISO14443")
    async with connect(csms, station, CustomerStation) as cp:
        await cp.boot()
        put = await api.put(f"/api/v1/stations/{station}/local-list", json={"tokens": ["04E46001", "04E46002"]})
        assert put.status_code == 200 and put.json()["version"] == 1, put.text
        r = await api.post(f"/api/v1/stations/{station}/customer-information",
                           json={"id_token": "04E46001", "report": True, "clear": True})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
        [asked] = cp.requests("CustomerInformation")
        assert asked["clear"] is True and asked["id_token"] == {"id_token": "04E46001", "type": "ISO14443"}

        async def removal_sent() -> bool:
            return len(cp.requests("SendLocalList")) == 2

        await eventually(removal_sent, "the differential SendLocalList")
        diff = cp.requests("SendLocalList")[1]
        assert diff["update_type"] == "Differential" and diff["version_number"] == 2
        assert diff["local_authorization_list"] == [{"id_token": {"id_token": "04E46001", "type": "ISO14443"}}]
    view = (await api.get(f"/api/v1/stations/{station}/local-list")).json()
    assert view["tokens"] == ["04E46002"] and {h["id_token"] for h in view["held"]} == {"04E46002"}
