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
