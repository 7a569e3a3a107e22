"""The inventory views across stations at 10,000 stations, through a real ``ocppd serve``.

    .venv/bin/python -m bench.inventory [--stations 10000] [--database-url postgresql://...]

Seeds the stations (5 vendors, 20 models, 12 firmware versions) and a device model of 60 variables each
(600,000 rows for 10,000 stations, as full 2.x base reports leave them) straight into the database,
starts ``ocppd serve`` on it and times each view several times (median): the counts by vendor / model /
firmware version, the first and a deep page of a firmware drill-down (walked page by page with the
cursor), which stations have a setting with a value, the values of a setting, one station's device
model, and the dashboard's Inventory page. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from tests.csms_process import run_csms

from ocppd.store import Store
from ocppd.store.schema import stations, variables

VARIABLES = 60


def _seed(url: str, count: int) -> None:
    store = Store(url)
    store.migrate()
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        rows = [
            {"station_id": f"INV-{i:05d}", "ocpp_version": "2.0.1", "vendor": f"Vendor-{i % 5}",
             "model": f"Model-{i % 20}", "firmware_version": f"fw-{i % 12}.0", "registration_status": "accepted",
             "enabled": True, "created_at": now, "updated_at": now, "last_boot_at": now, "last_seen_at": now}
            for i in range(count)
        ]  # fmt: skip
        conn.execute(insert(stations), rows)
        batch: list[dict[str, Any]] = []
        for i in range(count):
            for v in range(VARIABLES):
                batch.append({
                    "station_id": f"INV-{i:05d}", "component": f"Ctrlr{v % 12}", "variable": f"Variable{v}",
                    "attribute": "Actual", "value": str((i + v) % 7), "readonly": v % 3 == 0, "updated_at": now,
                    "mutability": "ReadOnly" if v % 3 == 0 else "ReadWrite", "data_type": "integer",
                    "min_limit": 0, "max_limit": 100, "supports_monitoring": True,
                })  # fmt: skip
            if len(batch) >= 20_000:
                conn.execute(insert(variables), batch)
                batch = []
        if batch:
            conn.execute(insert(variables), batch)
    store.engine.dispose()


def _time(client: httpx.Client, path: str, params: dict[str, Any] | None = None, runs: int = 5) -> dict[str, Any]:
    seconds = []
    response = None
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path, params=params)
        seconds.append(time.perf_counter() - began)
        response.raise_for_status()
    assert response is not None
    rows = len(response.json()) if response.headers.get("content-type", "").startswith("application/json") else None
    return {"median_ms": round(statistics.median(seconds) * 1000, 1), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="An empty database (default: a new SQLite file)")
    args = parser.parse_args()
    results: dict[str, Any] = {"stations": args.stations, "variables": args.stations * VARIABLES}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ocppd-data"
        data.mkdir()
        url = args.database_url or f"sqlite:///{data}/ocppd.db"
        results["backend"] = url.split(":", 1)[0]
        began = time.perf_counter()
        _seed(url, args.stations)
        results["seed_s"] = round(time.perf_counter() - began, 1)
        with run_csms(Path(tmp), database_url=url) as server:
            headers = {"Authorization": f"Bearer {server.admin_token}"}
            with httpx.Client(base_url=server.http_url, headers=headers, timeout=120) as client:
                for field in ("vendor", "model", "firmware_version"):
                    results[f"counts_{field}"] = _time(client, f"/api/v1/inventory/{field}")
                drill = {"firmware_version": "fw-3.0", "limit": 50}
                results["drill_first_page"] = _time(client, "/api/v1/inventory-stations", drill)
                cursor, pages, began = None, 0, time.perf_counter()
                while True:  # walk the whole drill-down (about 1/12 of the stations)
                    response = client.get(
                        "/api/v1/inventory-stations", params={**drill, **({"cursor": cursor} if cursor else {})}
                    )
                    response.raise_for_status()
                    pages += 1
                    cursor = response.headers.get("X-Next-Cursor")
                    if not cursor:
                        break
                results["drill_all_pages"] = {"pages": pages, "total_ms": round((time.perf_counter() - began) * 1000)}
                setting = {"variable": "Variable7", "component": "Ctrlr7", "value": "3", "limit": 50}
                results["stations_with_setting"] = _time(client, "/api/v1/inventory-settings", setting)
                results["setting_values"] = _time(
                    client, "/api/v1/inventory-settings/values", {"variable": "Variable7", "component": "Ctrlr7"}
                )
                results["one_device_model"] = _time(client, "/api/v1/stations/INV-04242/device-model")
                results["reboot_required"] = _time(client, "/api/v1/inventory-reboot-required")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
