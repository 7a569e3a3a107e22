"""The security block: station certificates (SignCertificate -> CertificateSigned), renewal, revocation.

The CSR is checked (:func:`ocppd.csms.ca.check_csr`, pure) while the station waits for its
SignCertificate answer, so a bad CSR is answered Rejected with the reason. An accepted one is signed
afterwards by the :class:`~ocppd.csms.ca.CertificateProvider` (the built-in CA by default) and sent
back in CertificateSigned; what happened is stored per station (``station_certificates``), published
on the event bus and counted. Revoked certificates are refused by the OCPP port (see :meth:`peer_problem`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import ssl
import string
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.ocsp import OCSPRequestBuilder

from ocppd import metrics
from ocppd.csms import ca, ocsp, verbs
from ocppd.csms import certificates as views
from ocppd.csms.metering import parse_time
from ocppd.csms.outbound import NotExpressible
from ocppd.csms.provisioning import hash_password
from ocppd.protocol.versions import OcppVersion
from ocppd.store import repo, security_repo
from ocppd.transport import tls

if TYPE_CHECKING:
    from ocppd.csms.service import Csms


log = logging.getLogger("ocppd.security")

CRL_FILE = "station-ca.crl"
CRL_RELOAD_INTERVAL = timedelta(days=1)  # the CRL is valid 7 days (ca.BuiltinCa.crl)
V16_INSTALLABLE = ("CSMSRootCertificate", "ManufacturerRootCertificate")
# OCPP 2.0.1 SecurityCtrlr.BasicAuthPassword: 16 to 40 characters; the 1.6 whitepaper's AuthorizationKey
# is at most 40 hex digits, so 20 bytes: generated passwords fit both.
MIN_PASSWORD, MAX_PASSWORD, GENERATED_PASSWORD = 16, 40, 20
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def generate_password(length: int = GENERATED_PASSWORD) -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


class HttpSigningProvider:
    """An external CA behind HTTP: ``POST provider_url`` with ``{"station_id", "certificate_type", "csr"}``
    (the CSR as PEM); the answer is ``{"certificate_chain": PEM}``, the leaf first."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    async def sign(self, station_id: str, certificate_type: str, csr: x509.CertificateSigningRequest) -> ca.Issued:
        body = {
            "station_id": station_id,
            "certificate_type": certificate_type,
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
        }
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(self.url, json=body)
        response.raise_for_status()
        chain = x509.load_pem_x509_certificates(str(response.json()["certificate_chain"]).encode())
        return ca.Issued(chain[0], tuple(chain))

    def trust_anchors(self) -> list[x509.Certificate]:
        return []  # the operator names the external CA in ocpp.tls_client_ca


# OCPP 2.0.1 part 2 appendix "Security events" and the 1.6 whitepaper: the events marked critical, which
# a station pushes at once (others may wait for the security log). 2.x and 1.6 names alike.
CRITICAL_SECURITY_EVENTS = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared",
    "MemoryExhaustion", "TamperDetectionActivated",
})  # fmt: skip


def security_event_severity(event_type: str) -> str:
    """``critical`` for the spec's critical security events, else ``info`` (also for vendor types)."""
    return "critical" if event_type in CRITICAL_SECURITY_EVENTS else "info"


def parse_ca_certificate(text: str) -> x509.Certificate:
    """The one CA certificate in ``text`` (PEM), valid now; NotExpressible (an HTTP 400) otherwise."""
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise NotExpressible("certificate: not a PEM X.509 certificate") from None
    if len(certificates) != 1:
        raise NotExpressible(f"certificate: one certificate expected, {len(certificates)} given")
    (certificate,) = certificates
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise NotExpressible(f"certificate: not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                             f"{certificate.not_valid_after_utc:%Y-%m-%d})")  # fmt: skip
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise NotExpressible("certificate: not a CA certificate (basicConstraints CA:TRUE)")
    if certificate.subject == certificate.issuer:
        try:
            certificate.verify_directly_issued_by(certificate)
        except (ValueError, TypeError, InvalidSignature):
            raise NotExpressible("certificate: a self-signed root whose signature does not verify") from None
    return certificate


def certificate_hash(certificate: x509.Certificate, algorithm: str = "SHA256") -> verbs.CertificateHash:
    """OCPP CertificateHashData of a root (its own issuer) or of a certificate whose issuer is itself
    unknown: the issuer name hash from the certificate, the key hash from its own key when self-signed."""
    request = OCSPRequestBuilder().add_certificate(certificate, certificate, ocsp.HASHES[algorithm]()).build()
    return verbs.CertificateHash(algorithm, request.issuer_name_hash.hex(), request.issuer_key_hash.hex(),
                                 f"{certificate.serial_number:x}")  # fmt: skip


def inventory_row(certificate_type: str, certificate: x509.Certificate) -> dict[str, Any]:
    hashed = certificate_hash(certificate)
    return {"certificate_type": certificate_type, "hash_algorithm": hashed.hash_algorithm,
            "issuer_name_hash": hashed.issuer_name_hash, "issuer_key_hash": hashed.issuer_key_hash,
            "serial_number": hashed.serial_number, "subject": _text(certificate.subject),
            "not_after": certificate.not_valid_after_utc,
            "pem": certificate.public_bytes(serialization.Encoding.PEM).decode()}  # fmt: skip


def _matches(row: dict[str, Any], certificate: x509.Certificate) -> bool:
    algorithm = row["hash_algorithm"] if row["hash_algorithm"] in ocsp.HASHES else "SHA256"
    mine = certificate_hash(certificate, algorithm)
    return (row["issuer_key_hash"].lower() == mine.issuer_key_hash
            and row["serial_number"].lower().lstrip("0") == mine.serial_number.lstrip("0"))  # fmt: skip


def _reported_row(reported: verbs.InstalledCertificate, pems: list[str]) -> dict[str, Any]:
    h = reported.hash
    row: dict[str, Any] = {"certificate_type": reported.certificate_type, "hash_algorithm": h.hash_algorithm,
                           "issuer_name_hash": h.issuer_name_hash, "issuer_key_hash": h.issuer_key_hash,
                           "serial_number": h.serial_number, "source": "reported",
                           "children": [c.ocpp() for c in reported.children] or None}  # fmt: skip
    for text in pems:
        certificate = x509.load_pem_x509_certificate(text.encode())
        if _matches(row, certificate):
            row.update(subject=_text(certificate.subject), not_after=certificate.not_valid_after_utc, pem=text)
            break
    return row


def _time(value: Any) -> datetime:
    try:
        return parse_time(str(value))
    except ValueError:
        return datetime.now(UTC)


def _text(name: x509.Name) -> str:
    return name.rfc4514_string()[:512]


class Security:
    def __init__(self, csms: Csms) -> None:
        self._csms = csms
        settings = csms.settings
        c = settings.ca
        self.settings = c
        self.directory = Path(c.dir) if c.dir else Path(settings.data_dir) / "ca"
        self.policy = ca.CsrPolicy(
            min_rsa_bits=c.min_rsa_bits,
            min_ec_bits=c.min_ec_bits,
            check_common_name=c.csr_check_common_name and not c.octt_compat,
            organization="" if c.octt_compat else c.csr_organization,
            max_bytes=c.max_csr_bytes,
        )
        self.builtin: ca.BuiltinCa | None = None
        self.provider: ca.CertificateProvider | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ocsp = ocsp.OcspClient(timeout=c.ocsp_timeout)
        self._warned: set[tuple[str, str, Any]] = set()
        self._next_expiry_check = 0.0
        self._expiry_metric_stale = True  # what stations hold changed: refresh the expiry gauge
        self._presented: dict[str, str] = {}  # station id -> serial of the client certificate it presented
        # Server contexts that check the built-in CA's CRL in the TLS handshake, and the lastUpdate of
        # the CRL last loaded into them (see check_crl_in)
        self._crl_contexts: list[ssl.SSLContext] = []
        self._crl_loaded_at: datetime | None = None

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Create or load the CA (blocking file I/O: once, at start). ValueError names the setting at fault."""
        c = self.settings
        if not c.enabled:
            return
        if c.provider == "http":
            self.provider = HttpSigningProvider(c.provider_url, c.sign_timeout)
            return
        files = ca.CaFiles(
            self.directory, c.organization, c.station_ca_cert, c.station_ca_key, c.root_cert,
            c.v2g_ca_cert, c.v2g_ca_key, c.v2g_root_cert, c.firmware_signing_cert, c.firmware_signing_key,
        )  # fmt: skip
        try:
            self.builtin = ca.BuiltinCa.load_or_create(files, certificate_days=c.certificate_days,
                                                       crl_url=self.crl_url())  # fmt: skip
        except (OSError, ValueError) as exc:
            raise ValueError(f"ca: {exc}") from None
        self.provider = self.builtin

    async def start(self) -> None:
        await self.refresh_revocations()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def trust_pem(self) -> str:
        """PEM of what the TLS port trusts for station certificates besides ``ocpp.tls_client_ca``."""
        return ca.pem(self.provider.trust_anchors()) if self.provider is not None else ""

    # ------------------------------------------------------------------ SignCertificate
    def sign_certificate(
        self, station_id: str, csr: str, certificate_type: str, request_id: int | None = None
    ) -> tuple[bool, str | None, str]:
        """Check the CSR now; when it passes, sign and send CertificateSigned after the answer has gone out.

        Returns ``(accepted, reason code, text)`` for the SignCertificate answer.
        """
        if self.provider is None:
            metrics.CERTIFICATES_SIGNED.labels(certificate_type, "rejected").inc()
            log.info("%s: SignCertificate Rejected (no certificate authority: ca.enabled is false)", station_id)
            return False, "NoCA", "this CSMS has no certificate authority"
        try:
            request = ca.check_csr(csr, station_id, certificate_type, self.policy)
        except ca.CsrRejected as exc:
            metrics.CERTIFICATES_SIGNED.labels(certificate_type, "rejected").inc()
            log.warning("%s: SignCertificate Rejected (%s: %s)", station_id, exc.reason, exc)
            self._csms.events.publish(
                "certificate.rejected",
                station_id,
                certificate_type=certificate_type,
                reason=exc.reason,
                detail=str(exc),
            )
            return False, exc.reason, str(exc)
        # The task runs after this handler returns, and the session sends the answer synchronously on
        # return: CertificateSigned always follows the SignCertificate answer on the wire.
        self._spawn(self._deliver(station_id, certificate_type, request, request_id))
        log.info("%s: SignCertificate Accepted (%s)", station_id, certificate_type)
        return True, None, ""

    async def _deliver(
        self,
        station_id: str,
        certificate_type: str,
        csr: x509.CertificateSigningRequest,
        request_id: int | None,
    ) -> None:
        assert self.provider is not None
        try:
            issued = await asyncio.wait_for(
                self.provider.sign(station_id, certificate_type, csr), self.settings.sign_timeout
            )
        except Exception as exc:  # a provider that fails or hangs: recorded, the station retries per spec
            metrics.CERTIFICATES_SIGNED.labels(certificate_type, "sign_failed").inc()
            log.error("%s: signing the %s CSR failed: %r", station_id, certificate_type, exc)
            self._csms.events.publish("certificate.sign_failed", station_id, certificate_type=certificate_type,
                                      detail=repr(exc))  # fmt: skip
            return
        leaf = issued.certificate
        serial = issued.serial_hex
        await self._csms.store.write(
            security_repo.add_issued_certificate, serial, station_id, certificate_type, _text(leaf.subject),
            _text(leaf.issuer), leaf.not_valid_before_utc, leaf.not_valid_after_utc, issued.chain_pem,
            datetime.now(UTC),
        )  # fmt: skip
        metrics.CERTIFICATES_SIGNED.labels(certificate_type, "issued").inc()
        verb = verbs.CertificateSigned(issued.chain_pem, certificate_type, request_id)  # type: ignore[arg-type]
        try:
            answer = (await self._csms.send(station_id, verb)).result
        except Exception as exc:  # offline, CALLERROR, timeout: the certificate stays issued, not installed
            await self._csms.store.write(security_repo.set_certificate_status, serial, "undelivered", repr(exc)[:512])
            metrics.CERTIFICATES_SIGNED.labels(certificate_type, "undelivered").inc()
            log.warning("%s: CertificateSigned %s not delivered: %r", station_id, serial, exc)
            return
        status, detail = answer.status, answer.reason
        outcome = "accepted" if answer.accepted else "rejected"
        await self._csms.store.write(security_repo.set_certificate_status, serial, outcome, detail)
        self._expiry_metric_stale = True
        metrics.CERTIFICATES_SIGNED.labels(certificate_type, "installed" if outcome == "accepted" else "refused").inc()
        log.info("%s: CertificateSigned %s (%s, serial %s, valid until %s)", station_id, status, certificate_type,
                 serial, leaf.not_valid_after_utc.date())  # fmt: skip
        self._csms.events.publish(
            "certificate.installed" if outcome == "accepted" else "certificate.refused",
            station_id, certificate_type=certificate_type, serial=serial, detail=detail,
            not_after=leaf.not_valid_after_utc.isoformat(),
        )  # fmt: skip

    async def certificates(self, station_id: str | None = None) -> list[dict[str, Any]]:
        return await self._csms.store.read(security_repo.station_certificates_of, station_id)

    # ------------------------------------------------------------------ the operator's views
    async def station_view(self, station_id: str) -> dict[str, Any] | None:
        """The station's own certificates, its CSR history and its trust store (csms/certificates.py)."""
        return await self._csms.store.read(views.station_view_op, station_id)

    async def expiring(self, **filters: Any) -> tuple[list[dict[str, Any]], views.ExpiryKey | None]:
        """A page of the certificates stations hold, soonest expiry first (views.expiring_op)."""
        return await self._csms.store.read(lambda conn: views.expiring_op(conn, **filters))

    async def expiry_summary(self, days: float = views.EXPIRY_WARNING_DAYS) -> dict[str, Any]:
        return await self._csms.store.read(views.summary_op, days)

    async def refresh_expiry_metric(self) -> None:
        """Set ``ocppd_certificate_expiry_timestamp_seconds`` per type when what stations hold changed
        (or at each expiry check): one grouped read, at most once per housekeeping round."""
        if not self._expiry_metric_stale:
            return
        self._expiry_metric_stale = False
        now = datetime.now(UTC)
        rows = await self._csms.store.read(security_repo.expiry_by_type, now, now)
        metrics.CERTIFICATE_EXPIRY.clear()
        for row in rows:
            if row["soonest"] is not None:
                metrics.CERTIFICATE_EXPIRY.labels(row["certificate_type"]).set(row["soonest"].timestamp())

    # ------------------------------------------------------------------ Basic-auth password rotation
    async def rotate_password(self, station_id: str, password: str | None = None) -> verbs.Status:
        """Send a new Basic password (generated unless given); store it only if the station accepts.

        The old password stays valid for ``ocpp.password_switch_over_s`` (the station reconnects with
        the new one at once: OCA A_09, 1.6 TC_073); a refusal keeps the old one (A_10).
        """
        password = password or generate_password()
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise NotExpressible(f"a Basic-auth password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        hex_encoded = await self._authorization_key_hex(station_id)
        answer = (await self._csms.send(station_id, verbs.SetBasicAuthPassword(password, hex_encoded))).result
        if answer.accepted:
            window = self._csms.settings.ocpp.password_switch_over_s
            await self._csms.credentials.set_password(station_id, hash_password(password), keep_previous_s=window)
            log.info("%s: Basic-auth password changed (%s); the old one is accepted for %.0f s more",
                     station_id, answer.status, window)  # fmt: skip
            self._csms.events.publish("password.changed", station_id, status=answer.status)
        else:
            log.warning("%s: the station refused the new Basic-auth password (%s%s); the old one stays",
                        station_id, answer.status, f": {answer.reason}" if answer.reason else "")  # fmt: skip
            self._csms.events.publish("password.refused", station_id, status=answer.status, reason=answer.reason)
        return answer

    async def set_authorization_key_encoding(self, station_id: str, encoding: str | None) -> None:
        """1.6: how this station reads AuthorizationKey ("hex", "plain"; None: ocpp.authorization_key_encoding)."""

        def op(conn: Any) -> None:
            row = repo.get_station(conn, station_id)
            attrs = dict((row.attrs if row is not None else None) or {})
            if encoding is None:
                attrs.pop("authorization_key_encoding", None)
            else:
                attrs["authorization_key_encoding"] = encoding
            repo.upsert_station(conn, station_id, attrs=attrs)

        await self._csms.store.write(op)

    async def _authorization_key_hex(self, station_id: str) -> bool:
        """1.6: AuthorizationKey hex-encoded (the whitepaper) unless the station's attrs say "plain"."""
        row = await self._csms.store.read(repo.get_station, station_id)
        attrs = (row.attrs if row is not None else None) or {}
        encoding = attrs.get("authorization_key_encoding") or self._csms.settings.ocpp.authorization_key_encoding
        return encoding != "plain"

    # ------------------------------------------------------------------ security profile upgrade
    async def upgrade_profile(
        self, station_id: str, profile: int, csms_url: str = "", slot: int = 1, new_password: bool = False
    ) -> verbs.Status:
        """Move a station up to ``profile`` (only up: A_19, TC_083): configure it, reset it, and confirm
        the profile when it reconnects at that level; not confirmed in time = reported, nothing changed.

        ``new_password`` (2.1, profiles 1-2: TC_B_100): the network profile carries the station's
        identity and a new generated Basic password, stored once the station took the profile; the
        old password stays valid until the upgrade is confirmed or given up."""
        current = self._csms.credentials.required_profile(station_id)
        if not current < profile <= 3:
            raise NotExpressible(f"the station is at security profile {current}; it can only go up (to 3)")
        url = csms_url or self._csms.settings.ocpp.csms_url
        session = self._csms.sessions.get(station_id)  # offline: Csms.send raises StationOffline
        if not url and session is not None and session.version is not OcppVersion.V16:
            raise NotExpressible("2.x SetNetworkProfile needs the CSMS URL: set ocpp.csms_url or give csms_url")
        password = None
        if new_password:
            if profile == 3:
                raise NotExpressible("new_password: security profile 3 authenticates by certificate, not password")
            password = generate_password()
        sent = await self._csms.send(station_id, verbs.SetSecurityProfile(
            profile, url, slot, identity=station_id if password else None, basic_auth_password=password))  # fmt: skip
        answer = sent.result
        if answer.accepted and sent.version is not OcppVersion.V16:
            answer = (await self._csms.send(station_id, verbs.UseNetworkProfile((slot,)))).result
        if answer.accepted and password is not None:
            settings = self._csms.settings.ocpp
            keep = max(settings.password_switch_over_s, settings.profile_upgrade_timeout_s)
            await self._csms.credentials.set_password(station_id, hash_password(password), keep_previous_s=keep)
            log.info("%s: the new network profile carries a new Basic-auth password; the old one is accepted "
                     "for %.0f s more", station_id, keep)  # fmt: skip
            self._csms.events.publish("password.changed", station_id, status=answer.status)
        if not answer.accepted:
            log.warning("%s: security profile %d refused (%s)", station_id, profile, answer.status)
            self._csms.events.publish("security_profile.refused", station_id, target=profile, status=answer.status)
            return answer
        self._csms.credentials.begin_upgrade(station_id, profile, self._csms.settings.ocpp.profile_upgrade_timeout_s)
        reset = (await self._csms.send(station_id, verbs.Reset("immediate"))).result
        log.info("%s: moving to security profile %d (reset %s); confirmed when it reconnects with it",
                 station_id, profile, reset.status)  # fmt: skip
        self._csms.events.publish("security_profile.upgrading", station_id, target=profile)
        return reset

    # ------------------------------------------------------------------ signed firmware
    async def sign_firmware(self, location: str) -> tuple[str, str]:
        """Download the image at ``location`` and sign it: ``(base64 signature, signing certificate PEM)``.

        The image is hashed while it streams in (never held in memory), at most ``ca.firmware_max_bytes``
        within ``ca.firmware_download_timeout`` seconds; NotExpressible says why not.
        """
        if self.builtin is None:
            raise NotExpressible("firmware signing needs the built-in CA (ca.enabled, ca.provider = builtin)")
        digest = hashlib.sha256()
        size = 0
        limit = self.settings.firmware_max_bytes
        try:
            async with (
                httpx.AsyncClient(timeout=self.settings.firmware_download_timeout) as client,
                client.stream("GET", location) as response,
            ):
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise NotExpressible(f"location: the image is larger than {limit} bytes")
                    digest.update(chunk)
        except httpx.HTTPError as exc:
            raise NotExpressible(f"location: the image cannot be downloaded to sign it: {exc!r}") from None
        signature = base64.b64encode(self.builtin.sign_digest(digest.digest())).decode()
        log.info("firmware %s signed (%d bytes, SHA-256 %s)", location, size, digest.hexdigest())
        return signature, self.builtin.firmware_signing_chain_pem()

    async def signed_firmware_update(self, station_id: str, location: str, **options: Any) -> verbs.Status:
        """Sign the image and send it: 1.6 SignedUpdateFirmware, 2.x UpdateFirmware with the signature."""
        signature, certificate = await self.sign_firmware(location)
        verb = verbs.UpdateFirmware(location, signing_certificate=certificate, signature=signature, **options)
        return (await self._csms.send(station_id, verb)).result

    # ------------------------------------------------------------------ security events
    async def security_event(self, station_id: str, payload: dict[str, Any]) -> None:
        """SecurityEventNotification: stored (events table, ``ca.security_event_retention_days``),
        published with its severity; a critical one is also raised as ``security.alert`` and logged."""
        event_type = str(payload.get("type", ""))
        severity = security_event_severity(event_type)
        at = payload.get("timestamp")
        await self._csms.store.write(repo.record_event, station_id, "SecurityEventNotification",
                                     _time(at), {**payload, "severity": severity})  # fmt: skip
        detail = payload.get("techInfo")
        self._csms.events.publish("security.event", station_id, kind="SecurityEventNotification",
                                  payload=payload, severity=severity, security_event=event_type)  # fmt: skip
        metrics.SECURITY_EVENTS.labels(severity).inc()
        if severity == "critical":
            log.warning("%s: critical security event %s%s", station_id, event_type, f" ({detail})" if detail else "")
            self._csms.events.publish("security.alert", station_id, security_event=event_type, tech_info=detail,
                                      timestamp=at)  # fmt: skip
            await self._csms.alerts.security(station_id, event_type, detail, _time(at))
        else:
            log.info("%s: security event %s%s", station_id, event_type, f" ({detail})" if detail else "")

    async def security_events(self, station_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        return await self._csms.store.read(security_repo.security_events_of, station_id, limit)

    async def prune_security_events(self) -> None:
        days = self.settings.security_event_retention_days
        if days > 0:
            await self._csms.store.write(security_repo.prune_security_events, datetime.now(UTC) - timedelta(days=days))

    # ------------------------------------------------------------------ OCSP and plug & charge
    async def certificate_status(self, ocsp_request_data: dict[str, Any]) -> tuple[str, str | None, str | None]:
        """GetCertificateStatus: ``(status, base64 ocspResult, reason)``; the responder's answer is relayed
        as it came (the station judges it), Failed when there is none to relay (M_24)."""
        cert_id = ocsp.CertId.from_ocpp(ocsp_request_data)
        answer = await self.ocsp.status(cert_id)
        if answer.status == ocsp.FAILED or answer.der is None:
            self._csms.events.publish(
                "ocsp.failed", None, serial=cert_id.serial_number, detail="; ".join(answer.problems)
            )
            return "Failed", None, "; ".join(answer.problems)[:512] or None
        return "Accepted", base64.b64encode(answer.der).decode(), None

    async def contract_status(self, hash_data: list[dict[str, Any]] | None, certificate: str | None) -> str:
        """ISO 15118 contract authorization (C_50-C_52): AuthorizeCertificateStatusEnum from OCSP of every
        certificate of the contract chain (the station's hash data, or computed from the certificate)."""
        try:
            cert_ids = (
                [ocsp.CertId.from_ocpp(d) for d in hash_data]
                if hash_data
                else ocsp.cert_ids_from_chain(certificate or "")
            )
        except (ocsp.OcspError, KeyError) as exc:
            log.warning("contract certificate not checkable: %s", exc)
            return "CertChainError"
        answers = [await self.ocsp.status(cert_id) for cert_id in cert_ids]
        statuses = {a.status for a in answers}
        if ocsp.REVOKED in statuses:
            return "CertificateRevoked"
        if statuses == {ocsp.GOOD}:
            return "Accepted"
        log.warning("contract certificate status not known (%s): %s", ", ".join(sorted(statuses)),
                    "; ".join(p for a in answers for p in a.problems))  # fmt: skip
        return "CertChainError"

    async def chain_status(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """2.1 GetCertificateChainStatus: each certificate's status from OCSP (the first URL that answers)
        or from a CRL; Failed with nextUpdate now when no source answered."""
        out = []
        for request in requests:
            hashed = request["certificateHashData"]
            status, next_update = "Failed", datetime.now(UTC)
            for url in request["urls"]:
                if request["source"] == "OCSP":
                    answer = await self.ocsp.status(ocsp.CertId.from_ocpp({**hashed, "responderURL": url}))
                    found = {ocsp.GOOD: "Good", ocsp.REVOKED: "Revoked", ocsp.UNKNOWN: "Unknown"}.get(answer.status)
                    when = answer.next_update
                else:
                    found, when = await self._crl_status(url, hashed["serialNumber"])
                if found is not None:
                    status, next_update = found, when or datetime.now(UTC)
                    break
            iso = next_update.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            out.append({"certificateHashData": hashed, "source": request["source"], "status": status,
                        "nextUpdate": iso})  # fmt: skip
        return out

    async def _crl_status(self, url: str, serial_hex: str) -> tuple[str | None, datetime | None]:
        try:
            async with httpx.AsyncClient(timeout=self.settings.ocsp_timeout) as client:
                response = await client.get(url)
            response.raise_for_status()
            data = response.content
            crl = x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_crl(data)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("CRL %s not usable: %r", url, exc)
            return None, None
        revoked = crl.get_revoked_certificate_by_serial_number(int(serial_hex, 16)) is not None
        return ("Revoked" if revoked else "Good"), crl.next_update_utc

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> tuple[str, str, str | None]:
        """Get15118EVCertificate: the EXI request goes to the contract-certificate provider unchanged and
        its EXI answer comes back unchanged (M_26, M_28); ``(status, exiResponse, reason)``."""
        url = self.settings.contract_provider_url
        if not url:
            return "Failed", "", "NoContractProvider"
        body = {"station_id": station_id, "iso15118_schema_version": schema_version, "action": action,
                "exi_request": exi_request}  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=self.settings.contract_provider_timeout) as client:
                response = await client.post(url, json=body)
            response.raise_for_status()
            answer = response.json()
            status, exi = str(answer.get("status", "Accepted")), str(answer["exi_response"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: Get15118EVCertificate %s: the contract provider failed: %r", station_id, action, exc)
            self._csms.events.publish("ev_certificate.failed", station_id, action=action, detail=repr(exc))
            return "Failed", "", "ProviderError"
        log.info("%s: Get15118EVCertificate %s: %s from the contract provider", station_id, action, status)
        return ("Accepted" if status == "Accepted" else "Failed"), exi, None if status == "Accepted" else status[:20]

    # ------------------------------------------------------------------ the stations' trust stores
    async def install_certificate(self, station_id: str, certificate_type: str, text: str) -> verbs.Status:
        """InstallCertificate of a CA certificate the operator gives; kept in the inventory when Accepted."""
        certificate = parse_ca_certificate(text)
        answer = (await self._csms.send(station_id, verbs.InstallCertificate(certificate_type, text))).result  # type: ignore[arg-type]
        if answer.accepted:
            row = {**inventory_row(certificate_type, certificate), "source": "installed"}
            await self._csms.store.write(security_repo.add_installed_certificate, station_id, row, datetime.now(UTC))
            self._expiry_metric_stale = True
        log.info("%s: InstallCertificate %s %s: %s%s", station_id, certificate_type,
                 certificate.subject.rfc4514_string(), answer.status,
                 f" ({answer.reason})" if answer.reason else "")  # fmt: skip
        self._csms.events.publish("certificate.install", station_id, certificate_type=certificate_type,
                                  status=answer.status, reason=answer.reason)  # fmt: skip
        return answer

    async def refresh_installed(self, station_id: str, types: tuple[str, ...] = ()) -> verbs.InstalledCertificates:
        """GetInstalledCertificateIds; the report replaces what was known of those types. What the CSMS
        installed itself keeps its subject and expiry (matched in the hash algorithm the station used)."""
        report = (await self._csms.send(station_id, verbs.GetInstalledCertificateIds(types))).result
        known = await self._csms.store.read(security_repo.installed_certificates_of, station_id)
        pems = [r["pem"] for r in known if r.get("pem")]
        rows = [_reported_row(c, pems) for c in report.certificates]
        await self._csms.store.write(security_repo.replace_installed_certificates, station_id,
                                     list(types) or None, rows, datetime.now(UTC))  # fmt: skip
        self._expiry_metric_stale = True
        return report

    async def delete_certificate(self, station_id: str, row_id: int) -> verbs.Status:
        """DeleteCertificate with exactly the hash data the station reported (TC_076, M_20)."""
        row = await self._csms.store.read(security_repo.get_installed_certificate, row_id)
        if row is None or row["station_id"] != station_id:
            raise LookupError(f"station {station_id!r} has no installed certificate {row_id}")
        hashed = verbs.CertificateHash(row["hash_algorithm"], row["issuer_name_hash"], row["issuer_key_hash"],
                                       row["serial_number"])  # fmt: skip
        answer = (await self._csms.send(station_id, verbs.DeleteCertificate(hashed))).result
        if answer.status in ("Accepted", "NotFound"):  # NotFound: it is not there either way
            await self._csms.store.write(security_repo.delete_installed_certificate, row_id)
            self._expiry_metric_stale = True
        return answer

    async def installed(self, station_id: str) -> list[dict[str, Any]]:
        return await self._csms.store.read(security_repo.installed_certificates_of, station_id)

    def trust_set(self) -> list[tuple[str, str]]:
        """``(certificate type, PEM)`` the operator wants on every station: the built-in CA's roots and
        ``ca.station_roots`` (``TYPE:path`` entries)."""
        out: list[tuple[str, str]] = []
        if self.builtin is not None:
            out += [("CSMSRootCertificate", ca.pem([self.builtin.root])),
                    ("V2GRootCertificate", ca.pem([self.builtin.v2g_root]))]  # fmt: skip
        for entry in self.settings.station_roots:
            kind, _, path = entry.partition(":")
            out.append((kind, Path(path).read_text()))
        return out

    async def sync_trust_set(self, station_id: str) -> list[dict[str, Any]]:
        """Install every certificate of the trust set the station does not report (OCPP 1.6: only the
        CSMS and manufacturer roots exist there)."""
        session = self._csms.sessions.get(station_id)
        v16 = session is not None and session.version is OcppVersion.V16
        wanted = [
            (k, p)
            for k, p in self.trust_set()
            if not v16 or k in ("CSMSRootCertificate", "ManufacturerRootCertificate")
        ]
        await self.refresh_installed(station_id, ())
        rows = await self._csms.store.read(security_repo.installed_certificates_of, station_id)
        out = []
        for kind, text in wanted:
            certificate = parse_ca_certificate(text)
            if any(_matches(r, certificate) for r in rows):
                out.append(
                    {"certificate_type": kind, "subject": certificate.subject.rfc4514_string(), "status": "present"}
                )
                continue
            answer = await self.install_certificate(station_id, kind, text)
            out.append({"certificate_type": kind, "subject": certificate.subject.rfc4514_string(),
                        "status": answer.status, "reason": answer.reason})  # fmt: skip
        return out

    async def warn_expiring(self) -> None:
        """Warn (log, event) once a day per certificate about those that expire within
        ``ca.expiry_warning_days``; ask connected stations for a new certificate when
        ``ca.auto_renew_days`` is reached."""
        now = datetime.now(UTC)
        if time.monotonic() < self._next_expiry_check:
            return
        self._next_expiry_check = time.monotonic() + self.settings.expiry_check_interval_s
        self._expiry_metric_stale = True  # another process on the same database may have changed them
        horizon = max(self.settings.expiry_warning_days, self.settings.auto_renew_days)
        rows = await self._csms.store.read(security_repo.expiring_certificates, now + timedelta(days=horizon))
        latest: dict[tuple[str, str], tuple[str, str, str, str, datetime]] = {}
        for row in rows:
            key = (row[0], row[2]) if row[1] == "issued" else (row[0], row[3])
            if key not in latest or row[4] > latest[key][4]:
                latest[key] = row
        for station_id, kind, certificate_type, name, not_after in latest.values():
            days = (not_after - now).total_seconds() / 86400
            mark = (station_id, name, now.date())
            if days <= self.settings.expiry_warning_days and mark not in self._warned:
                self._warned.add(mark)
                log.warning("%s: %s certificate %s (%s) expires %s", station_id, kind, name, certificate_type,
                            not_after.isoformat(timespec="minutes"))  # fmt: skip
                self._csms.events.publish("certificate.expiring", station_id, kind=kind, name=name,
                                          certificate_type=certificate_type, not_after=not_after.isoformat(),
                                          days=round(days, 1))  # fmt: skip
            renew = (station_id, "renew", now.date())
            if (kind == "issued" and days <= self.settings.auto_renew_days and renew not in self._warned
                    and self._csms.is_connected(station_id)):  # fmt: skip
                self._warned.add(renew)
                try:
                    await self._csms.send(station_id, verbs.RequestCertificate(certificate_type))  # type: ignore[arg-type]
                    log.info("%s: certificate %s expires in %.0f days: renewal requested", station_id, name, days)
                except Exception as exc:
                    log.warning("%s: renewal request failed: %r", station_id, exc)

    # ------------------------------------------------------------------ revocation
    async def revoke(self, serial: str, reason: str = "unspecified") -> bool:
        """Revoke a certificate the CA issued; the OCPP port refuses it from now on. False: unknown serial."""
        serial = serial.upper().removeprefix("0X")
        if not await self._csms.store.write(security_repo.revoke_certificate, serial, datetime.now(UTC), reason):
            return False
        await self.refresh_revocations()
        self._expiry_metric_stale = True
        log.info("certificate %s revoked (%s)", serial, reason)
        self._csms.events.publish("certificate.revoked", None, serial=serial, reason=reason)
        return True

    async def refresh_revocations(self) -> None:
        """Read the revoked serials (another node on the same database may revoke) and rewrite the CRL file."""
        if self.builtin is None:
            return
        rows = await self._csms.store.read(security_repo.revoked_serials)
        entries = [(int(serial, 16), when) for serial, when in rows]
        if set(dict(entries)) != set(self.builtin.revoked) or not (self.directory / CRL_FILE).exists():
            self.builtin.set_revoked(entries)
            (self.directory / CRL_FILE).write_bytes(self.builtin.crl().public_bytes(serialization.Encoding.DER))
            await self._load_crl()
        elif self._crl_loaded_at is not None and datetime.now(UTC) - self._crl_loaded_at > CRL_RELOAD_INTERVAL:
            await self._load_crl()  # a fresh signature long before the loaded CRL's nextUpdate

    def crl_url(self) -> str:
        """The CRL distribution point written into issued certificates: ``ca.crl_url``, else where this
        server serves the CRL when ``files.public_url`` says how it is reached, else none."""
        public = self._csms.settings.files.public_url.rstrip("/")
        return self.settings.crl_url or (f"{public}/ca/{CRL_FILE}" if public else "")

    def crl_der(self) -> bytes | None:
        return None if self.builtin is None else self.builtin.crl().public_bytes(serialization.Encoding.DER)

    def crl_pem(self) -> str:
        """The built-in CA's CRL for a server context to check in the handshake ("" without that CA)."""
        if self.builtin is None:
            return ""
        crl = self.builtin.crl()
        self._crl_loaded_at = crl.last_update_utc
        return crl.public_bytes(serialization.Encoding.PEM).decode()

    def check_crl_in(self, context: ssl.SSLContext | None) -> None:
        """Keep the built-in CA's CRL in this server context current: a revoked station certificate then
        fails the TLS handshake itself, from the moment it is revoked, without a restart."""
        if context is not None and self.builtin is not None and context.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF:
            self._crl_contexts.append(context)

    async def _load_crl(self) -> None:
        if not self._crl_contexts or self.builtin is None:
            return
        # A context keeps every CRL loaded into it and OpenSSL uses the one with the latest lastUpdate,
        # which has one-second resolution: the new CRL must be signed in a later second.
        if self._crl_loaded_at is not None:
            wait = (self._crl_loaded_at - datetime.now(UTC)).total_seconds() + 1.0
            if wait > 0:
                await asyncio.sleep(wait)
        pem = self.crl_pem()
        for context in self._crl_contexts:
            tls.load_crls(context, pem)

    def presented(self, station_id: str, certificate_der: bytes) -> None:
        """Keep the client certificate an admitted station presented (its own, whichever CA issued it),
        written in the background and only when its serial changed."""
        try:
            record = views.presented_record(certificate_der, datetime.now(UTC))
        except ValueError:
            return  # verified by the TLS library, so readable; never let this stop a connection
        if self._presented.get(station_id) == record["serial"]:
            return
        self._presented[station_id] = record["serial"]
        self._spawn(self._store_presented(station_id, record))

    async def _store_presented(self, station_id: str, record: dict[str, Any]) -> None:
        try:
            if await self._csms.store.write(security_repo.set_presented_certificate, station_id, record):
                self._expiry_metric_stale = True
        except Exception as exc:  # the store is closing, say: the next connection tries again
            self._presented.pop(station_id, None)
            log.warning("%s: the presented client certificate was not stored: %r", station_id, exc)

    def peer_problem(self, certificate_der: bytes) -> str | None:
        """Why a verified client certificate may not be used (revoked), or None."""
        if self.builtin is None or not self.builtin.revoked:
            return None
        try:
            certificate = x509.load_der_x509_certificate(certificate_der)
        except ValueError:
            return "the client certificate cannot be parsed"
        if self.builtin.is_revoked(certificate.issuer, certificate.serial_number):
            return f"the client certificate {ca.serial_hex(certificate.serial_number)} is revoked"
        return None

    # ------------------------------------------------------------------ helpers
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
