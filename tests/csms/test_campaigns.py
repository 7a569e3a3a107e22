"""The pure decisions of firmware campaigns (csms/campaigns.py): waves, each station's next status,
and when a wave stops one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocppd.csms.campaigns import (
    AWAITING_BOOT,
    AWAITING_CONNECTION,
    MISSED,
    WAITING,
    Campaigns,
    Rules,
    Seen,
    step,
    wave_rows,
    wave_verdict,
    waves,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = Rules(deadline=NOW + timedelta(minutes=10), window_end=None, retries=1, target_version="2.0")


def _seen(*, connected: bool = True, job: str | None = None, version: str | None = "1.0", booted: bool = False,
          at: datetime = NOW) -> Seen:  # fmt: skip
    return Seen(at, connected, job, version, booted)


def test_waves_keep_the_order_and_the_size() -> None:
    assert waves(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert waves([], 3) == []


def test_a_wave_is_done_when_every_station_is_final() -> None:
    assert not wave_verdict(["Installed", "Downloading"], 0.5).done
    verdict = wave_verdict(["Installed", "DownloadFailed"], 0.5)
    assert verdict.done and verdict.failed == 1 and not verdict.stop  # 50 % is not above 50 %


def test_a_wave_failing_more_than_the_limit_stops_the_campaign() -> None:
    assert wave_verdict(["Installed", "VersionMismatch", "Timeout"], 0.5).stop
    assert not wave_verdict(["Installed", "Installed", "InstallationFailed"], 0.5).stop
    assert not wave_verdict([AWAITING_CONNECTION, "Downloading"], 0.0).stop  # not done yet: no verdict


def test_missed_stations_say_nothing_about_the_image() -> None:
    verdict = wave_verdict(["Installed", MISSED, MISSED], 0.0)
    assert verdict.done and verdict.missed == 2 and not verdict.stop
    assert wave_verdict([MISSED, "DownloadFailed"], 0.5).stop  # 1 failure of 1 station that got it


def test_an_offline_station_is_waited_for_then_missed() -> None:
    assert step(WAITING, 0, _seen(connected=False), RULES) == (AWAITING_CONNECTION, False)
    assert step(AWAITING_CONNECTION, 0, _seen(connected=True), RULES) == (AWAITING_CONNECTION, True)  # send now
    late = NOW + timedelta(minutes=11)
    assert step(AWAITING_CONNECTION, 0, _seen(connected=False, at=late), RULES) == (MISSED, False)
    closed = Rules(RULES.deadline, window_end=NOW - timedelta(seconds=1), retries=0, target_version=None)
    assert step(WAITING, 0, _seen(), closed) == (MISSED, False)  # the campaign's window is over


def test_installed_counts_once_the_station_boots_with_the_target_version() -> None:
    assert step("Installing", 1, _seen(job="Installed", version="2.0", booted=True), RULES) == ("Installed", False)
    # Installed before the reboot: wait for the boot; a boot with the old version is a failure
    assert step("Installing", 1, _seen(job="Installed", version="1.0"), RULES) == (AWAITING_BOOT, False)
    assert step(AWAITING_BOOT, 1, _seen(job="Installed", version="1.0", booted=True), RULES) == (
        "VersionMismatch",
        False,
    )
    no_target = Rules(RULES.deadline, None, 0, target_version=None)
    assert step("Installing", 1, _seen(job="Installed", version="1.0"), no_target) == ("Installed", False)


def test_retries_after_a_retryable_failure_then_the_failure_stays() -> None:
    assert step("Downloading", 1, _seen(job="DownloadFailed"), RULES) == ("DownloadFailed", True)
    assert step("Downloading", 1, _seen(job="DownloadFailed", connected=False), RULES) == (AWAITING_CONNECTION, False)
    assert step("Downloading", 2, _seen(job="DownloadFailed"), RULES) == ("DownloadFailed", False)  # retries used
    assert step("Downloading", 1, _seen(job="InvalidSignature"), RULES) == ("InvalidSignature", False)  # not retried
    late = NOW + timedelta(minutes=11)  # a retry due but no time left: the failure it retried
    assert step(AWAITING_CONNECTION, 1, _seen(job="DownloadFailed", connected=False, at=late), RULES) == (
        "DownloadFailed", False)  # fmt: skip


def test_a_station_not_final_by_the_deadline_times_out() -> None:
    late = NOW + timedelta(minutes=10)
    assert step("Downloading", 1, _seen(job="Downloading", at=late), RULES) == ("Timeout", False)
    assert step("Downloading", 1, _seen(job="Downloading"), RULES) == ("Downloading", False)
    assert step("Installed", 1, _seen(job="DownloadFailed"), RULES) == ("Installed", False)  # final stays


def test_the_wave_deadline_counts_from_the_later_of_now_retrieve_and_install() -> None:
    row = {"wave_timeout_s": 60.0, "retrieve_at": NOW + timedelta(hours=2), "install_at": None}
    assert Campaigns._deadline(row, NOW) == NOW + timedelta(hours=2, seconds=60)
    row = {"wave_timeout_s": 60.0, "retrieve_at": NOW - timedelta(hours=1), "install_at": NOW + timedelta(hours=3)}
    assert Campaigns._deadline(row, NOW) == NOW + timedelta(hours=3, seconds=60)
    assert Campaigns._deadline({"wave_timeout_s": 5.0}, NOW) == NOW + timedelta(seconds=5)


def test_wave_rows_count_each_kind_of_status() -> None:
    campaign = {"stations": {"a": {"wave": 0, "status": "Installed"}, "b": {"wave": 0, "status": "Timeout"},
                             "c": {"wave": 1, "status": MISSED}, "d": {"wave": 1, "status": "Downloading"},
                             "e": {"wave": 2, "status": WAITING}}}  # fmt: skip
    assert wave_rows(campaign) == [
        {"number": 1, "stations": 2, "installed": 1, "failed": 1, "missed": 0, "running": 0, "waiting": 0},
        {"number": 2, "stations": 2, "installed": 0, "failed": 0, "missed": 1, "running": 1, "waiting": 0},
        {"number": 3, "stations": 1, "installed": 0, "failed": 0, "missed": 0, "running": 0, "waiting": 1},
    ]
