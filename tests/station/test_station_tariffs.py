"""The simulated 2.1 station's tariffs (sans-I/O): truthful answers to SetDefaultTariff, GetTariffs,
ClearTariffs and ChangeTransactionTariff, and the local cost by the same calculator as the CSMS."""

from __future__ import annotations

from datetime import UTC, datetime

from ocppd.station.tariffs import HeldTariffs

VAT = [{"type": "VAT", "tax": 19}]
ENERGY = {"tariffId": "std-v1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.4}], "taxRates": VAT},
          "fixedFee": {"prices": [{"priceFixed": 1}], "taxRates": VAT}}  # fmt: skip
START = datetime(2026, 6, 10, 10, tzinfo=UTC).timestamp()


def test_answers_say_what_the_station_does() -> None:
    t = HeldTariffs([1, 2])
    assert t.report(0) == {"status": "NoTariff"}
    assert t.set_default(3, ENERGY)["status"] == "Rejected"
    current = ENERGY | {"tariffId": "cur", "energy": {"prices": [{"priceKwh": 0.4, "conditions": {"minCurrent": 16}}]}}
    refused = t.set_default(0, current)
    assert refused["status"] == "ConditionNotSupported" and "minCurrent" in refused["statusInfo"]["additionalInfo"]
    assert t.set_default(0, ENERGY) == {"status": "Accepted"}
    assert t.set_default(1, ENERGY)["status"] == "DuplicateTariffId"
    assert t.set_default(1, ENERGY | {"tariffId": "e1-v1"}) == {"status": "Accepted"}
    everywhere = {"tariffId": "std-v1", "tariffKind": "DefaultTariff", "evseIds": [1, 2]}
    assert t.report(2) == {"status": "Accepted", "tariffAssignments": [everywhere]}
    assert {a["tariffId"] for a in t.report(0)["tariffAssignments"]} == {"std-v1", "e1-v1"}
    assert t.change_transaction("tx-9", ENERGY | {"tariffId": "x"}, None, None) == {"status": "TxNotFound"}
    assert (
        t.change_transaction("tx-1", ENERGY | {"tariffId": "usd", "currency": "USD"}, 1, "EUR")["status"]
        == "NoCurrencyChange"
    )
    assert t.change_transaction("tx-1", ENERGY | {"tariffId": "drv"}, 1, "EUR") == {"status": "Accepted"}
    assert t.applies("tx-1", 1, START)[0] == "drv"  # type: ignore[index]
    assert t.applies("tx-2", 1, START)[0] == "e1-v1"  # type: ignore[index]
    assert t.applies("tx-3", 2, START)[0] == "std-v1"  # type: ignore[index]
    assert t.clear(["nope"], None) == {"clearTariffsResult": [{"tariffId": "nope", "status": "NoTariff"}]}
    assert t.clear(["e1-v1"], 2) == {"clearTariffsResult": [{"tariffId": "e1-v1", "status": "NoTariff"}]}
    assert t.clear(["e1-v1"], 1) == {"clearTariffsResult": [{"tariffId": "e1-v1", "status": "Accepted"}]}
    assert len(t.clear(None, None)["clearTariffsResult"]) == 2
    assert t.clear(None, None) == {"clearTariffsResult": [{"status": "NoTariff"}]}


def test_local_cost_of_a_session() -> None:
    t = HeldTariffs([1])
    t.set_default(0, ENERGY)
    tariff_id, details = t.local_cost("tx-1", 1, START, START + 3600, 1000.0, 11000.0,
                                      [(START + 1800, 6000.0)])  # type: ignore[misc]  # fmt: skip
    assert tariff_id == "std-v1"
    assert details["totalCost"]["total"] == {"exclTax": 5, "inclTax": 5.95}  # 10 kWh x 0.40 + 1.00, 19 % VAT
    assert details["totalUsage"] == {"energy": 10000, "chargingTime": 3600, "idleTime": 0}
    assert HeldTariffs([1]).local_cost("tx-1", 1, START, START + 60, 0.0, 10.0, []) is None


def test_a_driver_tariff_prices_the_drivers_transaction() -> None:
    t = HeldTariffs([1])
    t.set_default(0, ENERGY)
    assert t.driver(
        "tx-1", ENERGY | {"tariffId": "fleet-v1", "fixedFee": {"prices": [{"priceFixed": 0}]}}, 1, "04A10001"
    )
    assert t.applies("tx-1", 1, START)[0] == "fleet-v1"  # type: ignore[index]
    assert t.applies("tx-2", 1, START)[0] == "std-v1"  # type: ignore[index]
    driver = next(a for a in t.report(0)["tariffAssignments"] if a["tariffId"] == "fleet-v1")
    assert driver == {"tariffId": "fleet-v1", "tariffKind": "DriverTariff", "evseIds": [1], "idTokens": ["04A10001"]}
    reserved = ENERGY | {"tariffId": "r", "reservationTime": {"prices": [{"priceMinute": 0.1}]}}
    assert not t.driver("tx-3", reserved, 1, "04A10002")
