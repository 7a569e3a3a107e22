"""The pure decisions of firmware campaigns (csms/campaigns.py): waves and when a wave stops one."""

from __future__ import annotations

from ocppd.csms.campaigns import wave_verdict, waves


def test_waves_keep_the_order_and_the_size() -> None:
    assert waves(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert waves([], 3) == []


def test_a_wave_is_done_when_every_station_is_final() -> None:
    assert not wave_verdict(["Installed", "Downloading"], 0.5).done
    verdict = wave_verdict(["Installed", "DownloadFailed"], 0.5)
    assert verdict.done and verdict.failed == 1 and not verdict.stop  # 50 % is not above 50 %


def test_a_wave_failing_more_than_the_limit_stops_the_campaign() -> None:
    assert wave_verdict(["Installed", "Offline", "Timeout"], 0.5).stop
    assert not wave_verdict(["Installed", "Installed", "InstallationFailed"], 0.5).stop
    assert not wave_verdict(["Offline", "Downloading"], 0.0).stop  # not done yet: no verdict
