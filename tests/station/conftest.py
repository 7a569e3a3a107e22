from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import StationConfig
from tests.station.csms import OcppCsms


@pytest.fixture
async def csms() -> AsyncIterator[OcppCsms]:
    server = OcppCsms(heartbeat=1)
    await server.start()
    yield server
    await server.stop()


def fast_config(identity: str, url: str, version: OcppVersion, **kwargs: Any) -> StationConfig:
    """A station with every interval short, so tests run in seconds."""
    settings = {
        "meter_sample_interval": 1, "aligned_interval": 0, "heartbeat_interval": 1,
        "tx_message_retry_interval": 1, "retry_backoff_min": 0,
    }  # fmt: skip
    settings.update(kwargs.pop("settings", {}))
    defaults: dict[str, Any] = dict(call_timeout=3.0, reconnect_min=0.1, reconnect_max=0.5, reboot_delay=0.2,
                                    step_delay=0.05, boot_retry=0.2)  # fmt: skip
    defaults.update(kwargs)
    return StationConfig(identity=identity, url=url, version=version, settings=settings, **defaults)


async def until(predicate: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
