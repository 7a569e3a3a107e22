"""Customer information (OCA N_27..N_32, N_62, N_63, CSMS side): CustomerInformation by id token,
customer identifier or customer certificate, report and/or clear; the NotifyCustomerInformation parts
assembled and kept per request. Against a 2.0.1 station of the `ocpp` package and a real
``ocppd serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ocpp.routing import after, on
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import eventually, new_id, ok
from tests.verbs.stations import Station201, connected, now

CERTIFICATE = {"hash_algorithm": "SHA256", "issuer_name_hash": "a1b2", "issuer_key_hash": "c3d4",
               "serial_number": "0A1B"}  # fmt: skip
PROTECTED = "04FFFF01"  # the station refuses to report or clear this customer


class CustomerStation(Station201):
    """Keeps data per customer (token, identifier, certificate serial) and reports it in 24-char parts."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.customers: dict[str, str] = {
            "04A1B2C3": "token 04A1B2C3: 2 transactions, authorization cache Accepted",
            "OpenChargeAlliance": "customer OpenChargeAlliance: contract on file",
            "0A1B": "certificate 0A1B: installed 2026-11-01",
            PROTECTED: "not to be told",
        }

    @staticmethod
    def customer(kw: dict[str, Any]) -> str:
        if kw.get("id_token"):
            return str(kw["id_token"]["id_token"])
        if kw.get("customer_identifier"):
            return str(kw["customer_identifier"])
        return str(kw["customer_certificate"]["serial_number"])

    @on("CustomerInformation")
    async def on_customer_information(self, request_id: int, report: bool, clear: bool, **kw: Any) -> Any:
        self.record("CustomerInformation", request_id=request_id, report=report, clear=clear, **kw)
        return r201.CustomerInformation(status="Rejected" if self.customer(kw) == PROTECTED else "Accepted")

    @after("CustomerInformation")
    async def after_customer_information(self, request_id: int, report: bool, clear: bool, **kw: Any) -> None:
        who = self.customer(kw)
        if who == PROTECTED:
            return
        data = self.customers.get(who, "") if report else ""
        if clear:
            self.customers.pop(who, None)
        if not report:
            data = f"cleared {who}"  # N_32: notified all the same
        self._later(self._notify(request_id, data))

    async def _notify(self, request_id: int, data: str) -> None:
        parts = [data[i : i + 24] for i in range(0, len(data), 24)] or [""]
        for n, part in enumerate(parts):
            await self.call(
                c201.NotifyCustomerInformation(data=part, seq_no=n, generated_at=now(), request_id=request_id,
                                               tbc=n < len(parts) - 1),
                suppress=False,
            )  # fmt: skip


def station(csms: CsmsProcess, sid: str) -> Any:
    return connected(csms.ws_url, sid, "2.0.1", station_class=CustomerStation)


async def ask(api: httpx.AsyncClient, sid: str, body: dict[str, Any], status: int = 200) -> Any:
    return ok(await api.post(f"/api/v1/stations/{sid}/customer-information", json=body), status)


async def completed(api: httpx.AsyncClient, pk: int) -> dict[str, Any]:
    async def probe() -> bool:
        return bool(ok(await api.get(f"/api/v1/customer-information/{pk}"))["complete"])

    await eventually(probe, "the customer information report complete")
    return ok(await api.get(f"/api/v1/customer-information/{pk}"))  # type: ignore[no-any-return]


# case -> (request body, the station still holds the customer afterwards, the data assembled)
CASES: dict[str, tuple[dict[str, Any], bool, str]] = {
    "n_27": ({"id_token": "04A1B2C3"}, True, "token 04A1B2C3: 2 transactions, authorization cache Accepted"),
    "n_28": ({"id_token": "04A1B2C4"}, False, ""),  # a customer the station knows nothing about
    "n_30": ({"id_token": "04A1B2C3", "clear": True}, False,
             "token 04A1B2C3: 2 transactions, authorization cache Accepted"),
    "n_31": ({"id_token": "04A1B2C5", "clear": True}, False, ""),
    "n_32": ({"id_token": "04A1B2C3", "clear": True, "report": False}, False, "cleared 04A1B2C3"),
    "n_62": ({"customer_identifier": "OpenChargeAlliance", "clear": True}, False,
             "customer OpenChargeAlliance: contract on file"),
    "n_63": ({"customer_certificate": CERTIFICATE, "clear": True}, False, "certificate 0A1B: installed 2026-11-01"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
async def test_tc_n_27_n_28_n_30_n_31_n_32_n_62_n_63_customer_information(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str
) -> None:
    body, keeps, data = CASES[case]
    sid = new_id(case.upper())
    async with station(csms, sid) as st:
        row = await ask(api, sid, body)
        assert row["status"] == "Accepted" and row["report"] is body.get("report", True)
        assert row["clear"] is body.get("clear", False) and row["created_by"]
        sent = st.last("CustomerInformation")
        named = {k for k in ("id_token", "customer_identifier", "customer_certificate") if sent.get(k)}
        assert len(named) == 1  # exactly one way of naming the customer goes out
        if "id_token" in body:
            assert sent["id_token"] == {"id_token": body["id_token"], "type": "ISO14443"}
        if "customer_certificate" in body:
            assert sent["customer_certificate"] == CERTIFICATE
        done = await completed(api, row["id"])
        assert done["data"] == data and done["parts"] == max(1, -(-len(data) // 24))
        who = CustomerStation.customer(sent)
        assert (who in st.customers) is keeps
        listed = ok(await api.get(f"/api/v1/stations/{sid}/customer-information"))
        assert listed[0]["id"] == row["id"]


async def test_tc_n_29_refused(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N29")
    async with station(csms, sid):
        row = await ask(api, sid, {"id_token": PROTECTED})
        assert (row["status"], row["complete"], row["parts"], row["data"]) == ("Rejected", False, 0, "")


async def test_bad_customer_information_requests_are_refused_before_sending(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("N27X")
    async with station(csms, sid) as st:
        for body in ({}, {"id_token": "04A1B2C3", "customer_identifier": "x"},
                     {"id_token": "04A1B2C3", "report": False, "clear": False}):  # fmt: skip
            r = await api.post(f"/api/v1/stations/{sid}/customer-information", json=body)
            assert r.status_code == 400, r.text
            assert "customer" in r.json()["detail"] or "report" in r.json()["detail"]
        assert not st.all("CustomerInformation")
        assert ok(await api.get(f"/api/v1/stations/{sid}/customer-information")) == []
