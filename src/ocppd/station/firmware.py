"""The simulated station installing firmware: download the image over HTTP(S) (real bytes, checked
against the server's digest and length), verify a signature when one is given, install, reboot, and
boot with the version the image names. One walk for every version; only the status names differ:

- 1.6 UpdateFirmware (FirmwareStatusNotification): Downloading, Downloaded / DownloadFailed, Installing,
  Installed (after the reboot) / InstallationFailed (also for a damaged image: 1.6 has no other status);
- 1.6 SignedUpdateFirmware (SignedFirmwareStatusNotification) and 2.x UpdateFirmware: the same plus
  InvalidSignature / SignatureVerified, InstallVerificationFailed (after Installing: the checksum did not
  match, "using a checksum or some other means") and InstallRebooting; the outcome after the boot is
  Installed or InstallationFailed.

``StationConfig.firmware_fault`` makes a station fail on purpose (campaign tests, templates):
``download`` (the download breaks), ``corrupt`` (the bytes arrive damaged), ``install`` (the installation
fails, reported after the reboot) or ``keep-version`` (reports Installed, but boots with its old version).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ocppd.station import files

if TYPE_CHECKING:
    from ocppd.station.station import Station

log = logging.getLogger("ocppd.station.firmware")

FAULTS = ("download", "corrupt", "install", "keep-version")


async def install(
    station: Station,
    location: str,
    report: Callable[[str], Awaitable[None]],
    *,
    extended: bool,
    signature: str | None = None,
    signing_certificate: str | None = None,
    retrieve_at: float | None = None,
    install_at: float | None = None,
) -> None:
    """Walk one update; ``report`` sends the version's status notification. ``extended``: the
    2.x / signed 1.6 status set. ``retrieve_at`` / ``install_at`` (epoch seconds): not before then
    (DownloadScheduled / InstallScheduled first when later; waits of at most an hour). Ends with a
    reboot after which the adapter reports Installed."""
    step = station.config.step_delay
    fault = station.config.firmware_fault
    if await _until(retrieve_at) and extended:
        await report("DownloadScheduled")
        await _until(retrieve_at, wait=True)
    await report("Downloading")
    got = False if fault == "download" else await files.download(location)
    if got is False:
        await report("DownloadFailed")
        return
    await asyncio.sleep(step)
    await report("Downloaded")
    if extended and signature and signing_certificate and isinstance(got, files.Downloaded):
        if not files.signature_valid(got.sha256, signature, signing_certificate):
            await report("InvalidSignature")
            return
        await report("SignatureVerified")
    await asyncio.sleep(step)
    if await _until(install_at) and extended:
        await report("InstallScheduled")
        await _until(install_at, wait=True)
    await report("Installing")
    await asyncio.sleep(step)
    if fault == "corrupt" or (isinstance(got, files.Downloaded) and not got.intact):
        log.warning("%s: the firmware image from %s does not match its digest", station.identity, location)
        await report("InstallVerificationFailed" if extended else "InstallationFailed")
        return
    # an installation that fails does so over the reboot: (InstallRebooting,) boot, then the outcome
    # (OCA TC_044_3 for 1.6, TC_L_09 for 2.x)
    station.firmware_outcome = "InstallationFailed" if fault == "install" else "Installed"
    if extended:
        await report("InstallRebooting")
    if isinstance(got, files.Downloaded) and got.version and fault not in ("keep-version", "install"):
        station.config.firmware = got.version  # the next BootNotification names the new version
    log.info("%s: firmware installed, now %s; rebooting", station.identity, station.config.firmware)
    station.reboot("FirmwareUpdate")


async def _until(at: float | None, *, wait: bool = False) -> bool:
    """Whether ``at`` is still to come; with ``wait``, sleep until then (an hour at most)."""
    delay = 0.0 if at is None else min(at - time.time(), 3600.0)
    if delay > 0 and wait:
        await asyncio.sleep(delay)
    return delay > 0
