"""Certificate endpoints: what the CA issued per station, renewal, revocation, and the public CA files
(the root stations install, the CRL named in issued certificates). Thin: they call the security block.

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from ocppd.api import paging
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError
from ocppd.api.models import IssuedCertificate, OperationStatus, Revoked, SecurityProfileSet
from ocppd.api.routes import Cursor, Limit
from ocppd.api.service import OperatorService
from ocppd.csms import ca, verbs
from ocppd.csms.certificates import MAX_HORIZON_DAYS
from ocppd.csms.outbound import jsonable
from ocppd.csms.security import Security

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])
public = APIRouter(prefix="/ca", tags=["certificates"])
Admin = Depends(require_admin)


def security(request: Request) -> Security:
    return request.app.state.csms.security


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


class Renewal(BaseModel):
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate", "Combined"] = Field(
        "ChargingStationCertificate",
        description="Which certificate the station is asked to renew (1.6: only ChargingStationCertificate).",
    )


class Revocation(BaseModel):
    reason: str = Field("unspecified", max_length=64, description="Recorded with the revocation")


@router.get("/certificates", tags=["certificates"], summary="Certificates the CA issued, newest first")
async def list_certificates(s: Security = Depends(security)) -> list[IssuedCertificate]:
    return [_row(r) for r in await s.certificates()]


@router.get("/certificates/expiring", tags=["certificates"],
            summary="Certificates the stations hold, soonest expiry first (expired ones first), paged")  # fmt: skip
async def expiring(
    request: Request,
    response: Response,
    s: Security = Depends(security),
    within_days: float | None = Query(None, ge=0, le=MAX_HORIZON_DAYS, description="Only those expiring within N days"),
    station_id: str | None = Query(None, max_length=255, description="Only this station"),
    certificate_type: str | None = Query(None, max_length=32, description="Only this type, e.g. CSMSRootCertificate"),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> list[dict[str, Any]]:
    after = paging.decode(cursor, datetime, str, str, str) if cursor else None
    rows, last = await s.expiring(within_days=within_days, station_id=station_id, certificate_type=certificate_type,
                                  after=after, limit=limit)  # fmt: skip
    if last is not None:
        response.headers.update(paging.next_link(request.url, paging.encode(last)))
    return jsonable(rows)  # type: ignore[no-any-return]


@router.get("/certificates/summary", tags=["certificates"],
            summary="Per certificate type: held, expired, expiring within `days`, unknown expiry, soonest")  # fmt: skip
async def summary(
    s: Security = Depends(security),
    days: float = Query(30, ge=0, le=MAX_HORIZON_DAYS, description="The horizon in days"),
) -> dict[str, Any]:
    return jsonable(await s.expiry_summary(days))  # type: ignore[no-any-return]


@router.get("/stations/{station_id}/certificates/overview", tags=["certificates"],
            summary="A station's own certificates (from the CA), CSR history and trust store")  # fmt: skip
async def station_overview(station_id: str, s: Security = Depends(security)) -> dict[str, Any]:
    view = await s.station_view(station_id)
    if view is None:
        raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
    return jsonable(view)  # type: ignore[no-any-return]


@router.get("/stations/{station_id}/certificates", tags=["certificates"], summary="A station's issued certificates")
async def station_certificates(station_id: str, s: Security = Depends(security)) -> list[IssuedCertificate]:
    return [_row(r) for r in await s.certificates(station_id)]


@router.post(
    "/stations/{station_id}/certificates/renew",
    tags=["certificates"],
    dependencies=[Admin],
    summary="Ask the station for a new CSR (TriggerMessage / ExtendedTriggerMessage); the CA signs it",
)
async def renew(station_id: str, body: Renewal, request: Request) -> OperationStatus:
    sent = await operator(request).send(station_id, verbs.RequestCertificate(body.certificate_type), name="renew")
    return _status(sent.result)


class PasswordRotation(BaseModel):
    password: str | None = Field(
        None, min_length=16, max_length=40, description="The new password; omitted: the CSMS generates one"
    )


class ProfileUpgrade(BaseModel):
    profile: int = Field(ge=1, le=3, description="The security profile to move the station to (only up)")
    csms_url: str = Field("", description="2.x ocppCsmsUrl for SetNetworkProfile; default ocpp.csms_url")
    configuration_slot: int = Field(1, ge=0, description="2.x network configuration slot")
    new_password: bool = Field(
        False, description="2.1, profiles 1-2: send the station's identity and a new generated Basic password "
        "in the network profile (TC_B_100); the old password stays valid until the upgrade is confirmed"
    )  # fmt: skip


class ProfileSetting(BaseModel):
    profile: int | None = Field(ge=0, le=3, description="Required profile; null: ocpp.default_security_profile")
    force: bool = Field(False, description="Allow a lower profile than the stored one")


@router.post(
    "/stations/{station_id}/password/rotate",
    tags=["security"],
    dependencies=[Admin],
    summary="Give the station a new Basic-auth password over OCPP; stored only if the station accepts",
)
async def rotate_password(station_id: str, body: PasswordRotation, request: Request) -> OperationStatus:
    s = security(request)
    return _status(await operator(request).carry_out(station_id, s.rotate_password(station_id, body.password),
                                                     "rotate password"))  # fmt: skip


@router.post(
    "/stations/{station_id}/security-profile/upgrade",
    tags=["security"],
    dependencies=[Admin],
    summary="Move the station up to a security profile: configure, reset, confirm on reconnect",
)
async def upgrade_profile(station_id: str, body: ProfileUpgrade, request: Request) -> OperationStatus:
    operation = security(request).upgrade_profile(
        station_id, body.profile, body.csms_url, body.configuration_slot, body.new_password
    )
    return _status(await operator(request).carry_out(station_id, operation, "upgrade security profile"))


@router.put(
    "/stations/{station_id}/security-profile",
    tags=["security"],
    dependencies=[Admin],
    summary="Set the profile a station must connect with (no OCPP message; for stations set up out of band)",
)
async def set_profile(station_id: str, body: ProfileSetting, request: Request) -> SecurityProfileSet:
    csms = request.app.state.csms
    await operator(request).station_row(station_id)  # 404 for an unknown station
    current = csms.credentials.stored_profile(station_id)
    if current is not None and (body.profile is None or body.profile < current) and not body.force:
        raise ApiError(409, f"the station is at profile {current}; lowering it needs force=true", "profile_lower")
    await csms.credentials.set_profile(station_id, body.profile)
    return {"station_id": station_id, "security_profile": body.profile}


class Installation(BaseModel):
    certificate_type: Literal[
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
        "V2GRootCertificate",
        "MORootCertificate",
        "OEMRootCertificate",
    ] = Field(
        description="1.6 knows CSMSRootCertificate (CentralSystemRootCertificate) and ManufacturerRootCertificate"
    )
    certificate: str = Field(min_length=1, max_length=10000, description="One PEM CA certificate")


class InventoryRefresh(BaseModel):
    certificate_types: list[str] = Field(default_factory=list, description="Types to ask for; empty: all")


def _inventory(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_row({k: v for k, v in r.items() if k != "pem"}) for r in rows]


@router.get("/stations/{station_id}/certificates/installed", tags=["certificates"],
            summary="What the station has in its trust store, as last reported or installed")  # fmt: skip
async def installed(station_id: str, request: Request) -> list[dict[str, Any]]:
    return _inventory(await security(request).installed(station_id))


@router.post("/stations/{station_id}/certificates/installed/refresh", tags=["certificates"], dependencies=[Admin],
             summary="GetInstalledCertificateIds: ask the station and store its answer")  # fmt: skip
async def refresh_installed(station_id: str, body: InventoryRefresh, request: Request) -> dict[str, Any]:
    s = security(request)
    operation = s.refresh_installed(station_id, tuple(body.certificate_types))
    report = await operator(request).carry_out(station_id, operation, "get installed certificates")
    return {"status": report.status, "certificates": _inventory(await s.installed(station_id))}


@router.post("/stations/{station_id}/certificates/install", tags=["certificates"], dependencies=[Admin],
             summary="InstallCertificate of a CA certificate on the station")  # fmt: skip
async def install(station_id: str, body: Installation, request: Request) -> dict[str, Any]:
    operation = security(request).install_certificate(station_id, body.certificate_type, body.certificate)
    return _status(await operator(request).carry_out(station_id, operation, "install certificate"))


@router.delete("/stations/{station_id}/certificates/installed/{row_id}", tags=["certificates"], dependencies=[Admin],
               summary="DeleteCertificate with the hash data the station reported")  # fmt: skip
async def delete_installed(station_id: str, row_id: int, request: Request) -> dict[str, Any]:
    try:
        operation = security(request).delete_certificate(station_id, row_id)
        return _status(await operator(request).carry_out(station_id, operation, "delete certificate"))
    except LookupError as exc:
        raise ApiError(404, str(exc), "not_found") from None


@router.post("/stations/{station_id}/certificates/sync", tags=["certificates"], dependencies=[Admin],
             summary="Install every certificate of the trust set that the station does not have")  # fmt: skip
async def sync(station_id: str, request: Request) -> list[dict[str, Any]]:
    return await operator(request).carry_out(station_id, security(request).sync_trust_set(station_id), "sync")


@router.get("/trust-set", tags=["certificates"], summary="The certificates every station should have")
async def trust_set(request: Request) -> list[dict[str, Any]]:
    out = []
    for kind, text in security(request).trust_set():
        certificate = x509.load_pem_x509_certificate(text.encode())
        out.append({"certificate_type": kind, "subject": certificate.subject.rfc4514_string(),
                    "not_after": certificate.not_valid_after_utc.isoformat()})  # fmt: skip
    return out


@router.get("/security-events", tags=["security"], summary="Security events of all stations, newest first")
async def all_security_events(
    request: Request, limit: int = Query(100, ge=1, le=1000, description="At most this many")
) -> list[dict[str, Any]]:
    return [_row(r) for r in await security(request).security_events(None, limit)]


@router.get("/stations/{station_id}/security-events", tags=["security"],
            summary="A station's security events (severity: critical per the OCPP list, else info)")  # fmt: skip
async def station_security_events(
    station_id: str, request: Request, limit: int = Query(100, ge=1, le=1000, description="At most this many")
) -> list[dict[str, Any]]:
    return [_row(r) for r in await security(request).security_events(station_id, limit)]


class SignedFirmware(BaseModel):
    location: str = Field(
        min_length=1, max_length=512, description="URL of the image; the CSMS downloads it to sign it"
    )
    retrieve_at: datetime | None = Field(None, description="Default: now")
    install_at: datetime | None = None
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)


@router.post(
    "/stations/{station_id}/firmware/signed",
    tags=["security"],
    dependencies=[Admin],
    summary="Sign the image with the CA's firmware-signing certificate and send it (1.6 SignedUpdateFirmware)",
)
async def signed_firmware(station_id: str, body: SignedFirmware, request: Request) -> dict[str, Any]:
    operation = security(request).signed_firmware_update(
        station_id, body.location, retrieve_at=body.retrieve_at, install_at=body.install_at, retries=body.retries,
        retry_interval_s=body.retry_interval_s,
    )  # fmt: skip
    return _status(await operator(request).carry_out(station_id, operation, "signed firmware update"))


class KeyEncoding(BaseModel):
    encoding: Literal["hex", "plain"] | None = Field(
        description="1.6 AuthorizationKey as hex (the whitepaper) or the password itself; null: the default"
    )


@router.put(
    "/stations/{station_id}/authorization-key-encoding",
    tags=["security"],
    dependencies=[Admin],
    summary="How a 1.6 station reads ChangeConfiguration AuthorizationKey (per-station exception)",
)
async def authorization_key_encoding(station_id: str, body: KeyEncoding, request: Request) -> dict[str, Any]:
    await operator(request).station_row(station_id)  # 404 for an unknown station
    await security(request).set_authorization_key_encoding(station_id, body.encoding)
    return {"station_id": station_id, "authorization_key_encoding": body.encoding}


def operator(request: Request) -> OperatorService:
    return request.app.state.service  # type: ignore[no-any-return]


def _status(status: verbs.Status) -> dict[str, Any]:
    return {"status": status.status, "reason": status.reason}


@router.post(
    "/certificates/{serial}/revoke",
    tags=["certificates"],
    dependencies=[Admin],
    summary="Revoke an issued certificate: the OCPP port refuses it from now on, the CRL lists it",
)
async def revoke(serial: str, body: Revocation, s: Security = Depends(security)) -> Revoked:
    if not await s.revoke(serial, body.reason):
        raise ApiError(404, f"no certificate with serial {serial!r} was issued here", "not_found")
    return {"serial": serial.upper(), "revoked": True, "reason": body.reason}


@public.get(
    "/csms-root.pem",
    summary="The CSMS root certificate (install it on stations as CSMSRootCertificate)",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
async def csms_root(s: Security = Depends(security)) -> Response:
    if s.builtin is None:
        raise ApiError(404, "the built-in CA is not in use", "no_ca")
    return Response(ca.pem([s.builtin.root]), media_type="application/x-pem-file")


@public.get(
    "/firmware-signing.pem",
    summary="The certificate (with its chain) that signs firmware images",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
async def firmware_signing(s: Security = Depends(security)) -> Response:
    if s.builtin is None:
        raise ApiError(404, "the built-in CA is not in use", "no_ca")
    return Response(s.builtin.firmware_signing_chain_pem(), media_type="application/x-pem-file")


@public.get(
    "/station-ca.crl",
    summary="The station sub-CA's certificate revocation list (DER)",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
async def crl(s: Security = Depends(security)) -> Response:
    der = s.crl_der()
    if der is None:
        raise ApiError(404, "the built-in CA is not in use", "no_ca")
    return Response(der, media_type="application/pkix-crl")
