"""Every repository function, through Store.write / Store.read, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Connection, insert, select, text, update

from ocppd.store import Sample, Store, repo
from ocppd.store.schema import message_log, status_history, transactions

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --------------------------------------------------------------------------- stations


async def test_station_upsert_get_list(store: Store) -> None:
    assert await store.read(repo.get_station, "CP1") is None
    await store.write(repo.upsert_station, "CP2", vendor="V2")
    await store.write(repo.upsert_station, "CP1", vendor="V", model="M", attrs={"site": "north"})
    await store.write(repo.upsert_station, "CP1", model="M2")  # partial update keeps other columns
    st = await store.read(repo.get_station, "CP1")
    assert st is not None
    assert (st.vendor, st.model, st.attrs, st.enabled) == ("V", "M2", {"site": "north"}, True)
    assert st.created_at.tzinfo is UTC and st.updated_at >= st.created_at
    assert [s.station_id for s in await store.read(repo.list_stations)] == ["CP1", "CP2"]


async def test_station_unknown_field_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown station field"):
        await store.write(repo.upsert_station, "CP1", colour="red")
    assert await store.read(repo.get_station, "CP1") is None


async def test_registration_and_boot(store: Store) -> None:
    assert await store.write(repo.set_registration, "CP1", "Accepted") is False
    info = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}
    await store.write(repo.record_boot, "CP1", "2.0.1", "V", "M", "SN1", "1.0", info, "Pending")
    st = await store.read(repo.get_station, "CP1")
    assert st is not None
    assert (st.ocpp_version, st.vendor, st.model, st.serial_number, st.firmware_version) == (
        "2.0.1",
        "V",
        "M",
        "SN1",
        "1.0",
    )
    assert st.boot_info == info and st.registration_status == "Pending"
    assert st.last_boot_at is not None and st.last_seen_at == st.last_boot_at
    assert await store.write(repo.set_registration, "CP1", "Accepted") is True
    await store.write(repo.record_boot, "CP1", "2.0.1", "V", "M", "SN1", "1.1", info, "Accepted")
    st2 = await store.read(repo.get_station, "CP1")
    assert st2 is not None and st2.firmware_version == "1.1" and st2.created_at == st.created_at
    assert st2.last_boot_at is not None and st2.last_boot_at >= st.last_boot_at


async def test_touch_station(store: Store) -> None:
    assert await store.write(repo.touch_station, "nope", at(0)) is False
    await store.write(repo.upsert_station, "CP1")
    assert await store.write(repo.touch_station, "CP1", at(1)) is True
    st = await store.read(repo.get_station, "CP1")
    assert st is not None and st.last_seen_at == at(1) and st.last_heartbeat_at is None
    await store.write(repo.touch_station, "CP1", at(2), heartbeat=True)
    st = await store.read(repo.get_station, "CP1")
    assert st is not None and st.last_seen_at == at(2) and st.last_heartbeat_at == at(2)


async def test_station_directory_is_what_the_handshake_needs(store: Store) -> None:
    await store.write(repo.upsert_station, "CP1")
    await store.write(repo.set_registration, "CP1", "accepted")
    await store.write(repo.upsert_station, "CP2")
    full = await store.read(repo.list_stations)
    assert sorted(await store.read(repo.station_directory)) == [
        (r.station_id, r.registration_status, r.auth_password_hash, r.vendor, r.model, r.security_profile) for r in full
    ]
    assert full[0].registration_status == "accepted"


async def test_heartbeats_in_bulk(store: Store) -> None:
    await store.write(repo.upsert_station, "CP1")
    await store.write(repo.upsert_station, "CP2")
    await asyncio.gather(
        store.write_rows(repo.record_heartbeats, [("CP1", at(3))]),
        store.write_rows(repo.record_heartbeats, [("CP2", at(4)), ("GONE", at(4))]),  # unknown: nothing to update
    )
    one, two = await store.read(repo.get_station, "CP1"), await store.read(repo.get_station, "CP2")
    assert one is not None and one.last_heartbeat_at == at(3) and one.last_seen_at == at(3)
    assert two is not None and two.last_heartbeat_at == at(4)


async def test_delete_station_keeps_history(store: Store) -> None:
    await store.write(repo.upsert_station, "CP1")
    await store.write(repo.record_status, "CP1", 1, 1, "Available", None, None, at(0), None)
    await store.write(repo.upsert_variables, "CP1", [("C", "V", None, "1", False)])
    pk, _ = await store.write(repo.start_transaction, "CP1", None, 1, 1, "TAG", at(0), 0.0, "1.6", "d1")
    assert await store.write(repo.delete_station, "CP1") is True
    assert await store.write(repo.delete_station, "CP1") is False
    assert await store.read(repo.get_station, "CP1") is None
    assert await store.read(repo.list_connector_status, "CP1") == []
    assert await store.read(repo.list_variables, "CP1") == []
    assert len(await store.read(repo.status_history, "CP1", 10)) == 1  # audit trail survives
    assert await store.read(repo.get_transaction, pk) is not None


# --------------------------------------------------------------------------- status


async def test_record_status_current_and_history(store: Store) -> None:
    await store.write(repo.record_status, "CP1", 1, 1, "Available", "NoError", None, at(0), {"vendorId": "x"})
    await store.write(repo.record_status, "CP1", 1, 1, "Occupied", None, "plugged", at(2), None)
    # A late replay of an older notification goes to history but must not overwrite current state.
    await store.write(repo.record_status, "CP1", 1, 1, "Faulted", "GroundFailure", None, at(1), None)
    await store.write(repo.record_status, "CP1", None, 0, "Unavailable", None, None, at(3), None)
    await store.write(repo.record_status, "CP1", 2, 1, "Available", None, None, None, None)  # no timestamp

    current = await store.read(repo.list_connector_status, "CP1")
    assert [(c.evse_id, c.connector_id, c.status) for c in current] == [
        (0, 0, "Unavailable"),
        (1, 1, "Occupied"),
        (2, 1, "Available"),
    ]
    assert current[1].info == "plugged" and current[1].timestamp == at(2)
    assert current[2].timestamp.tzinfo is UTC

    hist = await store.read(repo.status_history, "CP1", 100)
    assert [h.status for h in hist] == ["Available", "Unavailable", "Faulted", "Occupied", "Available"]
    assert hist[-1].extra == {"vendorId": "x"} and hist[-1].error_code == "NoError"
    assert [h.status for h in await store.read(repo.status_history, "CP1", 2)] == ["Available", "Unavailable"]
    assert await store.read(repo.status_history, "other", 10) == []


# --------------------------------------------------------------------------- tokens


async def test_tokens(store: Store) -> None:
    assert await store.read(repo.get_token, "T1") is None
    exp = datetime(2030, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    await store.write(repo.upsert_token, "T1", "ISO14443", "Accepted", exp, "G1")
    await store.write(repo.upsert_token, "T0", "Central", "Blocked")
    tok = await store.read(repo.get_token, "T1")
    assert tok is not None
    assert (tok.token_type, tok.status, tok.group_id) == ("ISO14443", "Accepted", "G1")
    assert tok.expiry == exp and tok.expiry.tzinfo is UTC and tok.expiry.hour == 0
    await store.write(repo.upsert_token, "T1", "ISO14443", "Expired", None, None)
    tok = await store.read(repo.get_token, "T1")
    assert tok is not None and (tok.status, tok.expiry, tok.group_id) == ("Expired", None, None)
    assert await store.write(repo.set_token_status, "T1", "Invalid") is True
    assert await store.write(repo.set_token_status, "nope", "Invalid") is False
    assert [(t.id_token, t.status) for t in await store.read(repo.list_tokens)] == [
        ("T0", "Blocked"),
        ("T1", "Invalid"),
    ]
    assert await store.write(repo.delete_token, "T0") is True
    assert await store.write(repo.delete_token, "T0") is False


# --------------------------------------------------------------------------- transactions


async def test_start_transaction_16_is_idempotent(store: Store) -> None:
    pk, created = await store.write(
        repo.start_transaction, "CP1", None, 1, 1, "TAG", at(0), 1000.0, "1.6", "CP1:1:TAG:t0"
    )
    assert created is True and 0 < pk < 2**31
    again = await store.write(repo.start_transaction, "CP1", None, 1, 1, "TAG", at(0), 1000.0, "1.6", "CP1:1:TAG:t0")
    assert again == (pk, False)
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None
    assert tx.transaction_uid == str(pk) and tx.active and tx.started_at == at(0)
    assert (tx.meter_start_wh, tx.energy_wh, tx.ocpp_version) == (1000.0, None, "1.6")
    assert await store.read(repo.find_transaction, "CP1", str(pk)) == tx
    pk2, created2 = await store.write(repo.start_transaction, "CP1", None, 2, 2, "TAG", at(1), 0.0, "1.6", "k2")
    assert created2 and pk2 > pk


async def test_start_transaction_2x_uid(store: Store) -> None:
    pk, created = await store.write(repo.start_transaction, "CP1", "uid-1", 1, 1, None, at(0), None, "2.0.1", "a")
    assert created
    # Same station+uid under another dedupe key (e.g. a replayed Started event): same transaction.
    assert await store.write(repo.start_transaction, "CP1", "uid-1", 1, 1, None, at(0), None, "2.0.1", "b") == (
        pk,
        False,
    )
    # Same uid on another station is a different transaction.
    other, created = await store.write(repo.start_transaction, "CP2", "uid-1", 1, 1, None, at(0), None, "2.0.1", "c")
    assert created and other != pk
    tx = await store.read(repo.find_transaction, "CP1", "uid-1")
    assert tx is not None and tx.id == pk and tx.id_token is None
    assert await store.read(repo.find_transaction, "CP1", "uid-404") is None
    assert await store.read(repo.get_transaction, 999_999) is None


async def test_transaction_pk_stays_int32(store: Store, backend: str) -> None:
    def exhaust_ids(conn: Connection) -> None:
        if backend == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('transactions', 'id'), 2147483647)"))
        else:  # AUTOINCREMENT continues after the highest id ever used
            conn.execute(
                insert(transactions).values(
                    id=2**31 - 1, station_id="X", transaction_uid="max", started_at=at(0), dedupe_key="max"
                )
            )

    await store.write(exhaust_ids)
    with pytest.raises(Exception, match=r"(?i)int32|maximum value"):
        await store.write(repo.start_transaction, "CP1", None, 1, 1, "TAG", at(0), 0.0, "1.6", "over")
    assert await store.read(repo.list_transactions, "CP1") == []  # the failed op left nothing behind


async def test_update_and_stop_transaction(store: Store) -> None:
    pk, _ = await store.write(repo.start_transaction, "CP1", "u1", 1, 1, "TAG", at(0), None, "2.0.1", "k")
    assert await store.write(
        repo.update_transaction, pk, charging_state="Charging", data={"tariff": "A"}, remote_start_id=7
    )
    assert await store.write(repo.update_transaction, 424242, charging_state="x") is False
    with pytest.raises(ValueError, match="unknown transaction field"):
        await store.write(repo.update_transaction, pk, dedupe_key="other")
    assert await store.write(repo.update_transaction, pk, meter_start_wh=500.0)
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None
    assert (tx.charging_state, tx.data, tx.remote_start_id, tx.energy_wh) == ("Charging", {"tariff": "A"}, 7, None)

    assert await store.write(repo.stop_transaction, pk, at(30), 12_500.0, "Local", "TAG2") is True
    assert await store.write(repo.stop_transaction, pk, at(31), 99_999.0, "Other", None) is False  # replay
    assert await store.write(repo.stop_transaction, 424242, at(31), 1.0, "Other") is False
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None and not tx.active
    assert (tx.stopped_at, tx.meter_stop_wh, tx.stop_reason, tx.stop_id_token) == (at(30), 12_500.0, "Local", "TAG2")
    assert tx.energy_wh == 12_000.0


async def test_meter_values_dedupe_and_energy_from_samples(store: Store) -> None:
    pk, _ = await store.write(repo.start_transaction, "CP1", "u1", 1, 2, "TAG", at(0), None, "2.0.1", "k")
    samples = [
        Sample(at(1), None, None, "kWh", 10.0, "Transaction.Begin", None),  # default measurand = register
        Sample(at(1), "Power.Active.Import", None, "W", 7000.0, None, None),
        Sample(at(1), "Current.Import", "L1", "A", 16.0, None, None),
        Sample(at(5), "Energy.Active.Import.Register", None, "Wh", 10_400.0, None, None),
        (at(5), "Energy.Active.Import.Register", "L1", "Wh", 99_999.0, None, None),  # per-phase: not total
    ]
    assert await store.write(repo.add_meter_values, pk, "CP1", 1, 2, samples) == 5
    assert await store.write(repo.add_meter_values, pk, "CP1", 1, 2, samples) == 0  # replay ignored
    # Same reading, different context -> a distinct sample; duplicates inside one call are ignored.
    extra = [Sample(at(5), None, None, "Wh", 10_400.0, "Sample.Clock", None)] * 2
    assert await store.write(repo.add_meter_values, pk, "CP1", 1, 2, extra) == 1
    assert await store.write(repo.add_meter_values, pk, "CP1", 1, 2, []) == 0

    rows = await store.read(repo.meter_samples, pk)
    assert len(rows) == 6 and rows[0].timestamp == at(1) and rows[-1].timestamp == at(5)
    first = next(r for r in rows if r.measurand == repo.ENERGY_REGISTER and r.unit == "kWh")
    assert (first.phase, first.context, first.location, first.value) == (None, "Transaction.Begin", "Outlet", 10.0)
    assert {r.phase for r in rows} == {None, "L1"}

    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None and tx.energy_wh == pytest.approx(400.0)  # 10.4 kWh - 10 kWh
    await store.write(repo.stop_transaction, pk, at(10), None, "EVDisconnected")
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None and tx.energy_wh == pytest.approx(400.0)  # no stop meter: still from samples

    # Samples not tied to a transaction (pk None) are stored too.
    assert await store.write(repo.add_meter_values, None, "CP1", None, None, [(at(9), None, None, "Wh", 1, None, None)])
    assert len(await store.read(repo.meter_samples, pk)) == 6


async def test_energy_prefers_meter_start_stop(store: Store) -> None:
    pk, _ = await store.write(repo.start_transaction, "CP1", None, 1, 1, "T", at(0), 2000.0, "1.6", "k")
    await store.write(repo.add_meter_values, pk, "CP1", 1, 1, [Sample(at(1), None, None, "Wh", 2500.0, None, None)])
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None and tx.energy_wh == 500.0  # start register + latest sample while running
    await store.write(repo.stop_transaction, pk, at(2), 3000.0, "Local")
    tx = await store.read(repo.get_transaction, pk)
    assert tx is not None and tx.energy_wh == 1000.0


async def test_bulk_tx_updates_ignore_replays(store: Store) -> None:
    pk, _ = await store.write(repo.start_transaction, "CP1", "u9", 1, 1, "T", at(0), 0.0, "2.0.1", "CP1|u9")

    def update(seq_no: int, second: int, wh: float) -> tuple[object, ...]:
        power = (at(second), "Power.Active.Import", None, "W", 7000.0, None, None)
        samples = [(at(second), None, None, "Wh", wh, None, None), power]
        rows = [repo.reading_row(pk, "CP1", 1, 1, r) for r in repo.readings_of(samples)]
        return repo.tx_update_row("CP1", "u9", seq_no, "Updated", {"seqNo": seq_no}, rows)

    await store.write_rows(repo.insert_tx_updates, [update(1, 1, 100.0), update(2, 2, 200.0)])
    # the station lost our answer and sends event 2 again, together with event 3, in the next batch
    await store.write_rows(repo.insert_tx_updates, [update(2, 2, 200.0), update(3, 3, 300.0)])
    events = await store.read(repo.list_tx_events, "CP1", "u9")
    assert [(e.seq_no, e.payload) for e in events] == [(n, {"seqNo": n}) for n in (1, 2, 3)]
    samples = await store.read(repo.meter_samples, pk)
    assert [s.value for s in samples if s.measurand == "Energy.Active.Import.Register"] == [100.0, 200.0, 300.0]


async def test_tx_events_replay(store: Store) -> None:
    payload = {"eventType": "Started", "seqNo": 0, "timestamp": T0, "amount": Decimal("1.5")}
    assert await store.write(repo.record_tx_event, "CP1", "u1", 0, "Started", payload) is True
    assert await store.write(repo.record_tx_event, "CP1", "u1", 0, "Started", payload) is False
    assert await store.write(repo.record_tx_event, "CP1", "u1", 1, "Updated", None) is True
    assert await store.write(repo.record_tx_event, "CP2", "u1", 0, "Started", None) is True
    evs = await store.read(repo.list_tx_events, "CP1", "u1")
    assert [(e.seq_no, e.event_type) for e in evs] == [(0, "Started"), (1, "Updated")]
    # JSON columns accept datetimes and Decimals (as RFC 3339 strings / floats).
    assert evs[0].payload == {
        "eventType": "Started",
        "seqNo": 0,
        "timestamp": "2024-05-01T12:00:00+00:00",
        "amount": 1.5,
    }


async def test_list_transactions_filters(store: Store) -> None:
    pks = {}
    for i, (station, tag) in enumerate([("CP1", "A"), ("CP1", "B"), ("CP2", "A"), ("CP1", "A")]):
        pks[i], _ = await store.write(repo.start_transaction, station, None, 1, 1, tag, at(i * 10), 0.0, "1.6", f"k{i}")
    await store.write(repo.stop_transaction, pks[0], at(5), 10.0, "Local")

    def ids(rows: list) -> list[int]:
        return [r.id for r in rows]

    assert ids(await store.read(repo.list_transactions)) == [pks[3], pks[2], pks[1], pks[0]]
    assert ids(await store.read(repo.list_transactions, "CP1")) == [pks[3], pks[1], pks[0]]
    assert ids(await store.read(repo.list_transactions, None, "A")) == [pks[3], pks[2], pks[0]]
    assert ids(await store.read(repo.list_transactions, "CP1", "A", at(0), at(30))) == [pks[0]]
    assert ids(await store.read(repo.list_transactions, since=at(10), until=at(30))) == [pks[2], pks[1]]
    assert ids(await store.read(repo.list_transactions, "CP1", active_only=True)) == [pks[3], pks[1]]
    assert ids(await store.read(repo.list_transactions, limit=2)) == [pks[3], pks[2]]


# --------------------------------------------------------------------------- events


async def test_events(store: Store) -> None:
    e1 = await store.write(repo.record_event, "CP1", "SecurityEventNotification", at(0), {"type": "X"})
    e2 = await store.write(repo.record_event, "CP1", "DataTransfer", at(1), {"vendorId": "v", "data": [1, 2]})
    e3 = await store.write(repo.record_event, "CP2", "DataTransfer", None, None)
    assert e1 < e2 < e3
    all_ = await store.read(repo.list_events)
    assert [e.id for e in all_] == [e3, e2, e1]
    assert all_[1].payload == {"vendorId": "v", "data": [1, 2]} and all_[1].timestamp == at(1)
    assert all_[0].payload is None and all_[0].timestamp.tzinfo is UTC
    assert [e.id for e in await store.read(repo.list_events, "CP1")] == [e2, e1]
    assert [e.id for e in await store.read(repo.list_events, None, "DataTransfer")] == [e3, e2]
    assert [e.id for e in await store.read(repo.list_events, "CP1", "DataTransfer", 5)] == [e2]
    assert [e.id for e in await store.read(repo.list_events, limit=1)] == [e3]


# --------------------------------------------------------------------------- variables


async def test_variables(store: Store) -> None:
    n = await store.write(
        repo.upsert_variables,
        "CP1",
        [
            (None, "HeartbeatInterval", None, "300", False),  # 1.6 configuration key
            ("OCPPCommCtrlr", "HeartbeatInterval", "Actual", "60", False),
            ("OCPPCommCtrlr", "HeartbeatInterval", "MaxSet", "3600", True),
            ("OCPPCommCtrlr", "HeartbeatInterval", "Actual", "90", False),  # later duplicate wins
        ],
    )
    assert n == 3
    await store.write(repo.upsert_variables, "CP1", [("OCPPCommCtrlr", "HeartbeatInterval", "MaxSet", None, True)])
    await store.write(repo.upsert_variables, "CP2", [("X", "Y", None, "z", False)])
    assert await store.write(repo.upsert_variables, "CP2", []) == 0
    rows = await store.read(repo.list_variables, "CP1")
    assert [(v.component, v.variable, v.attribute, v.value, v.readonly) for v in rows] == [
        ("", "HeartbeatInterval", "Actual", "300", False),
        ("OCPPCommCtrlr", "HeartbeatInterval", "Actual", "90", False),
        ("OCPPCommCtrlr", "HeartbeatInterval", "MaxSet", None, True),
    ]
    assert all(v.updated_at.tzinfo is UTC for v in rows)


# --------------------------------------------------------------------------- message log


async def test_message_log_query_and_prune(store: Store) -> None:
    store.log_frame("CP1", "in", 2, "m1", "Heartbeat", '[2,"m1","Heartbeat",{}]')
    store.log_frame("CP1", "out", 3, "m1", "Heartbeat", '[3,"m1",{"currentTime":"..."}]')
    store.log_frame("CP1", "in", 2, "m2", "StatusNotification", '[2,"m2","StatusNotification",{}]')
    store.log_frame("CP2", "in", 2, "m3", "Heartbeat", '[2,"m3","Heartbeat",{}]')
    await store.flush()
    assert store.stats.log_rows == 4

    # Backdate the two m1 frames so the time filters and prune are deterministic.
    old = datetime(2000, 1, 1, tzinfo=UTC)

    def backdate(conn: Connection) -> None:
        conn.execute(update(message_log).where(message_log.c.message_id == "m1").values(logged_at=old))

    await store.write(backdate)

    rows = await store.read(repo.message_log, "CP1")
    assert [(r.message_id, r.direction) for r in rows] == [("m2", "in"), ("m1", "out"), ("m1", "in")]
    assert rows[0].frame == '[2,"m2","StatusNotification",{}]' and rows[0].message_type == 2
    assert [r.message_id for r in await store.read(repo.message_log, None, None, None, "Heartbeat")] == [
        "m3",
        "m1",
        "m1",
    ]
    assert len(await store.read(repo.message_log, "CP1", old, old + timedelta(days=1))) == 2
    assert [r.message_id for r in await store.read(repo.message_log, "CP1", old + timedelta(days=1))] == ["m2"]
    assert len(await store.read(repo.message_log, limit=1)) == 1

    assert await store.prune_message_log(datetime(2001, 1, 1, tzinfo=UTC)) == 2
    assert await store.prune_message_log(datetime(2001, 1, 1, tzinfo=UTC)) == 0
    assert [r.message_id for r in await store.read(repo.message_log)] == ["m3", "m2"]


async def test_log_frame_validates_direction(store: Store) -> None:
    with pytest.raises(ValueError, match="direction"):
        store.log_frame("CP1", "sideways", 2, "m", "Heartbeat", "[]")


async def test_status_history_table_is_append_only(store: Store) -> None:
    for _ in range(3):
        await store.write(repo.record_status, "CP1", 1, 1, "Available", None, None, at(0), None)
    count = await store.read(lambda c: c.execute(select(status_history.c.id)).all())
    assert len(count) == 3
