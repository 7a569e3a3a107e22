"""TLS for OCPP-J: the CSMS's server context (security profiles 2 and 3) and the station's client context.

OCPP requires TLS 1.2 or later. Profile 2 is ``wss://`` with a server certificate and HTTP Basic auth on
top; profile 3 adds client certificates: the station presents one signed by a CA the CSMS trusts, and
its subject CN must be the station identity (checked by the transport before the WebSocket upgrade,
see :func:`certificate_identity_problem`).

Errors are :class:`TlsFileError` with the role of the file at fault (``cert``, ``key``, ``ca``), so the
caller can name its own setting or option (``ocpp.tls_key``, ``--key``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

Role = Literal["cert", "key", "ca"]

MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsFileError(ValueError):
    """A certificate, key or CA file cannot be used; ``role`` says which one."""

    def __init__(self, role: Role, message: str) -> None:
        super().__init__(message)
        self.role: Role = role


class _EncryptedKey(Exception):
    pass


def _no_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal and block the server's start.
    raise _EncryptedKey


def _read(path: str, role: Role) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise TlsFileError(role, f"no such file: {path}") from None
    except IsADirectoryError:
        raise TlsFileError(role, f"is a directory: {path}") from None
    except OSError as exc:
        raise TlsFileError(role, f"cannot read {path}: {exc.strerror or exc}") from None


def load_cert_chain(context: ssl.SSLContext, cert: str, key: str | None = None) -> None:
    """Load a PEM certificate (chain) and its unencrypted private key, with errors that say which file."""
    cert_pem = _read(cert, "cert")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise TlsFileError("cert", f"no PEM certificate in {cert}")
    if key:
        if b"PRIVATE KEY-----" not in _read(key, "key"):
            raise TlsFileError("key", f"no PEM private key in {key}")
    elif b"PRIVATE KEY-----" not in cert_pem:
        raise TlsFileError("key", f"not set, and {cert} holds no private key")
    try:
        context.load_cert_chain(cert, key or None, password=_no_password)
    except _EncryptedKey:
        raise TlsFileError("key", f"{key or cert} is encrypted; give an unencrypted key file") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            message = f"the private key in {key or cert} does not match the certificate in {cert}"
            raise TlsFileError("key", message) from None
        raise TlsFileError("cert", f"cannot load {cert}{' with ' + key if key else ''}: {exc.reason or exc}") from None


def load_ca(context: ssl.SSLContext, ca_file: str) -> None:
    """Trust the CA certificate(s) in a PEM file."""
    pem = _read(ca_file, "ca")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise TlsFileError("ca", f"no PEM certificate in {ca_file}")
    try:
        context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as exc:
        raise TlsFileError("ca", f"cannot load {ca_file}: {exc.reason or exc}") from None


def server_context(
    cert: str, key: str | None = None, client_ca: str | None = None, min_version: str = "1.2"
) -> ssl.SSLContext:
    """The CSMS's context: profile 2, or profile 3 (client certificates required) when ``client_ca`` is set.

    Only ``client_ca`` is trusted for station certificates, never the system's CAs: a certificate from a
    public CA for the right CN must not get a station in.
    """
    if min_version not in MIN_VERSIONS:
        raise ValueError(f"unknown TLS version {min_version!r}; use 1.2 or 1.3")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # loads no CA for CLIENT_AUTH
    context.minimum_version = MIN_VERSIONS[min_version]
    load_cert_chain(context, cert, key)
    if client_ca:
        load_ca(context, client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    ca_file: str | None = None, cert: str | None = None, key: str | None = None, *, insecure: bool = False
) -> ssl.SSLContext:
    """The station's context: trust ``ca_file`` (default: the system's CAs), present ``cert`` (profile 3).

    ``insecure`` turns off the server certificate and host name checks (tests, self-signed labs).
    """
    if key and not cert:
        raise TlsFileError("key", "a private key without a certificate")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        load_ca(context, ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        load_cert_chain(context, cert, key)
    return context


def requires_client_certificate(context: ssl.SSLContext | None) -> bool:
    """Whether a server with this context verifies client certificates (and so checks their CN)."""
    return context is not None and context.verify_mode != ssl.CERT_NONE


def common_names(peercert: Mapping[str, Any] | None) -> list[str]:
    """The subject's commonName values of a certificate as ``SSLSocket.getpeercert()`` decodes it."""
    if not peercert:
        return []
    return [str(value) for rdn in peercert.get("subject", ()) for (name, value) in rdn if name == "commonName"]


def certificate_identity_problem(peercert: Mapping[str, Any] | None, identity: str) -> str | None:
    """Why a verified client certificate does not prove ``identity`` (None: it does).

    OCPP 2.0.1 security profile 3: the subject CN of the station certificate is the station identity.
    """
    if not peercert:
        return "no client certificate"
    names = common_names(peercert)
    if not names:
        return "the client certificate has no subject CN"
    if set(names) != {identity}:
        return f"the client certificate is for CN {', '.join(repr(n) for n in names)}, not {identity!r}"
    return None
