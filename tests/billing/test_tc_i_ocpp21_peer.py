"""OCA TC_I_102, I_105, I_113, I_114, I_115 against a real ``ocppd serve`` and an `ocpp`-package 2.1
station (an independent implementation) that refuses tariffs the way a limited station does: the CSMS
keeps the answer, does not count the tariff as held, and sends what TC_I_115 expects."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v21 import ChargePoint
from ocpp.v21 import call as c21
from ocpp.v21 import call_result as r21

from tests.api.conftest import bearer, create_key, new_station_id, ok
from tests.csms_process import CsmsProcess, run_csms

DAY = {"start_time": "06:00", "end_time": "22:00"}
TARIFF = {"currency": "EUR", "vat": "19", "elements": [
    {"price_components": [{"type": "ENERGY", "price": "0.40"}], "restrictions": DAY},
    {"price_components": [{"type": "ENERGY", "price": "0.30"}]}]}  # fmt: skip


class LimitedStation(ChargePoint):
    """Answers tariff messages as configured; keeps what it was sent."""

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=30)
        self.answer = "Accepted"
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.seq = itertools.count()

    @on("SetDefaultTariff")
    async def on_set_default(self, evse_id: int, tariff: dict[str, Any], **kw: Any) -> Any:
        self.received.append(("SetDefaultTariff", tariff))
        return r21.SetDefaultTariff(status=self.answer)

    @on("ChangeTransactionTariff")
    async def on_change(self, transaction_id: str, tariff: dict[str, Any], **kw: Any) -> Any:
        self.received.append(("ChangeTransactionTariff", tariff))
        return r21.ChangeTransactionTariff(status=self.answer)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("billing-21-peer")) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


async def test_tc_i_102_105_113_114_115_refusals_are_kept_and_an_accepted_change_is_held(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("P21")
    ok(await api.put(f"/api/v1/tariffs/t-{sid}", json={"tariff": TARIFF, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    async with websockets.connect(f"{server.ws_url}/{sid}", subprotocols=["ocpp2.1"]) as ws:
        st = LimitedStation(sid, ws)
        runner = asyncio.create_task(st.start())
        try:
            await st.call(c21.BootNotification(charging_station={"model": "Limited", "vendor_name": "ACME"},
                                               reason="PowerUp"), suppress=False)  # fmt: skip
            for answer in ("TooManyElements", "ConditionNotSupported"):  # TC_I_102, TC_I_105
                st.answer = answer
                r = ok(await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"t-{sid}"}))
                assert (r["accepted"], r["result"]["status"], r["stored"]["held"]) == (False, answer, False)
            assert ok(await api.get(f"/api/v1/stations/{sid}/tariffs")) == []

            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            await st.call(c21.TransactionEvent(
                event_type="Started", timestamp=now, trigger_reason="CablePluggedIn", seq_no=next(st.seq),
                transaction_info={"transaction_id": "tx-p1", "charging_state": "EVConnected"},
                evse={"id": 1, "connector_id": 1},
            ), suppress=False)  # fmt: skip
            pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
            for answer in ("TooManyElements", "ConditionNotSupported"):  # TC_I_113, TC_I_114
                st.answer = answer
                r = ok(await api.post(f"/api/v1/transactions/{pk}/tariff", json={"tariff_id": f"t-{sid}"}))
                assert (r["accepted"], r["result"]["status"]) == (False, answer)
            st.answer = "Accepted"  # TC_I_115
            r = ok(await api.post(f"/api/v1/transactions/{pk}/tariff", json={"tariff_id": f"t-{sid}"}))
            assert r["accepted"] and r["stored"]["kind"] == "transaction" and r["stored"]["transaction_uid"] == "tx-p1"
            action, sent = st.received[-1]
            assert action == "ChangeTransactionTariff" and sent["valid_from"] == "2026-01-01T00:00:00Z"
            day = {"start_time_of_day": "06:00", "end_time_of_day": "22:00"}  # the ocpp package: snake_case
            assert sent["energy"]["prices"][0]["conditions"] == day
            held = ok(await api.get(f"/api/v1/stations/{sid}/tariffs"))
            assert [(h["kind"], h["status"]) for h in held] == [("transaction", "Accepted")]
            history = ok(await api.get(f"/api/v1/stations/{sid}/tariffs", params={"all": True}))
            assert [h["status"] for h in history] == ["TooManyElements", "ConditionNotSupported", "TooManyElements",
                                                      "ConditionNotSupported", "Accepted"]  # fmt: skip
        finally:
            runner.cancel()
