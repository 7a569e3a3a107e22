"""Meter public keys per EVSE and the verdicts on kept signed values, through the billing domain on a
real store (SQLite and PostgreSQL): a value waiting for its key is checked again when the key arrives."""

from __future__ import annotations

from datetime import UTC, datetime

from ocppd.csms.billing.service import Billing
from ocppd.store import Store
from ocppd.store import billing_repo as br
from tests.billing.ocmf import new_key, ocmf, public_hex

AT = datetime(2026, 6, 10, 10, tzinfo=UTC)


def _value(evse_id: int, data: str) -> dict[str, object]:
    return {
        "evse_id": evse_id,
        "timestamp": AT,
        "context": "Transaction.End",
        "measurand": "Energy.Active.Import.Register",
        "value": None,
        "signed_data": data,
        "encoding": "OCMF",
        "signing_method": None,
        "public_key": None,
    }


async def test_meter_keys_per_evse_and_values_checked_again_when_the_key_arrives(store: Store) -> None:
    billing = Billing(store)
    one, two = new_key(), new_key()
    await billing.keep_signed("CS-K", None, [_value(1, ocmf(one, 1.0)), _value(2, ocmf(two, 2.0))])
    rows = await store.read(br.station_signed_values, "CS-K", "unverifiable")
    assert len(rows) == 2

    await billing.meter_keys_reported("CS-K", [("FiscalMetering@evse1", "PublicKey", "Actual", public_hex(one), True)])
    keys = await store.read(br.meter_keys_of, "CS-K")
    assert [(k.evse_id, k.public_key) for k in keys] == [(1, public_hex(one))]
    assert len(await store.read(br.station_signed_values, "CS-K", "verified")) == 1
    # EVSE 2 has no key of its own; the station-wide key (evse 0) is the wrong one for it
    await billing.meter_keys_reported("CS-K", [("FiscalMetering", "PublicKey", "Actual", public_hex(one), True)])
    [failed] = await store.read(br.station_signed_values, "CS-K", "failed")
    assert failed.evse_id == 2

    # a key reported again unchanged writes nothing; a changed one replaces it
    await billing.meter_keys_reported("CS-K", [("", "MeterPublicKey[2]", "Actual", public_hex(two), True)])
    await billing.meter_keys_reported("CS-K", [("", "MeterPublicKey[2]", "Actual", public_hex(two), True)])
    assert [k.evse_id for k in await store.read(br.meter_keys_of, "CS-K")] == [0, 1, 2]
    await billing.keep_signed("CS-K", None, [_value(2, ocmf(two, 3.0))])
    assert len(await store.read(br.station_signed_values, "CS-K", "verified")) == 2


async def test_station_tariffs_and_local_costs_are_kept(store: Store) -> None:
    row = await store.write(
        br.add_station_tariff, station_id="CS-T", evse_id=0, tariff_id="std-v1", kind="default",
        body={"tariffId": "std-v1", "currency": "EUR"}, source_tariff_id="std", source_version_id=1,
        status="Accepted", held=True,
    )  # fmt: skip
    await store.write(br.add_station_tariff, station_id="CS-T", evse_id=1, tariff_id="x-v2", kind="default",
                      body={}, status="Rejected", held=False)  # fmt: skip
    assert [r.tariff_id for r in await store.read(br.station_tariffs_of, "CS-T", held_only=True)] == ["std-v1"]
    await store.write(br.update_station_tariffs, [row.id], held=False, detail="cleared", checked_at=AT)
    [again, _] = await store.read(br.station_tariffs_of, "CS-T")
    assert (again.held, again.detail, again.checked_at, again.body) == (False, "cleared", AT, row.body)
    details = {"totalCost": {"currency": "EUR", "typeOfCost": "NormalCost", "total": {"inclTax": 5.95}}}
    kept = await store.write(
        br.add_local_cost, transaction_id=None, station_id="CS-T", transaction_uid="tx-1", event_type="Ended",
        seq_no=4, tariff_id="std-v1", cost_details=details, station_incl_vat="5.95", csms_incl_vat="5.95",
        difference="0.00", flagged=False,
    )  # fmt: skip
    assert kept.id > 0 and kept.cost_details == details
