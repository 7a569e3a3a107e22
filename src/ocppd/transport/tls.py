"""TLS for OCPP-J: the CSMS's server context (security profiles 2 and 3) and the station's client context.

OCPP requires TLS 1.2 or later. Profile 2 is ``wss://`` with a server certificate and HTTP Basic auth on
top; profile 3 adds client certificates: the station presents one signed by a CA the CSMS trusts, and
its subject CN must be the station identity (checked by the transport before the WebSocket upgrade,
see :func:`certificate_identity_problem`).

Errors are :class:`TlsFileError` with the role of the file at fault (``cert``, ``key``, ``ca``), so the
caller can name its own setting or option (``ocpp.tls_key``, ``--key``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["cert", "key", "ca", "ciphers", "extra_cert", "extra_key", "crl"]

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


# TLS 1.2 suites OCPP 2.0.1 part 2 (A00.FR.318/319) and the 1.6 whitepaper require: the two ECDHE-ECDSA
# AES-GCM ones (in Python's defaults) and the two RSA key-exchange AES-GCM ones (not in them: no forward
# secrecy, but OCA tests for them). TLS 1.3 suites are OpenSSL's, always on.
OCPP_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-GCM-SHA384"
DEFAULT_SERVER_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:" + OCPP_CIPHERS + ":!aNULL:!eNULL:!SHA1"


def server_context(
    cert: str,
    key: str | None = None,
    client_ca: str | None = None,
    min_version: str = "1.2",
    *,
    trust_pem: str = "",
    client_certificates: Literal["required", "optional"] = "required",
    ciphers: str = DEFAULT_SERVER_CIPHERS,
    extra_certs: Sequence[tuple[str, str | None]] = (),
    crl_file: str | None = None,
    crl_pem: str = "",
) -> ssl.SSLContext:
    """The CSMS's context: profile 2, or profile 3 (client certificates) when ``client_ca``/``trust_pem`` is set.

    Only ``client_ca`` and ``trust_pem`` (PEM text: the built-in CA's certificates) are trusted for station
    certificates, never the system's CAs: a certificate from a public CA for the right CN must not get a
    station in. With ``client_certificates="optional"`` the handshake asks for a certificate and verifies
    one that is sent, but lets a station without one through (per-station security profiles decide).
    ``extra_certs`` are more (cert, key) pairs of other key types (an RSA certificate next to an ECDSA one).
    ``crl_file`` (PEM or DER) and ``crl_pem`` (the built-in CA's CRL) turn on revocation checking of
    the client certificate in the handshake (``VERIFY_CRL_CHECK_LEAF``): then every CA that signs client
    certificates needs its CRL here, as OpenSSL refuses a certificate whose issuer has none.
    """
    if min_version not in MIN_VERSIONS:
        raise ValueError(f"unknown TLS version {min_version!r}; use 1.2 or 1.3")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # loads no CA for CLIENT_AUTH
    context.minimum_version = MIN_VERSIONS[min_version]
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError:
        raise TlsFileError("ciphers", f"no usable cipher in {ciphers!r}") from None
    load_cert_chain(context, cert, key)
    for extra_cert, extra_key in extra_certs:
        try:
            load_cert_chain(context, extra_cert, extra_key)
        except TlsFileError as exc:  # name the second certificate's own settings
            raise TlsFileError("extra_key" if exc.role == "key" else "extra_cert", str(exc)) from None
    if client_ca:
        load_ca(context, client_ca)
    if trust_pem:
        context.load_verify_locations(cadata=trust_pem)
    if client_ca or trust_pem:
        context.verify_mode = ssl.CERT_REQUIRED if client_certificates == "required" else ssl.CERT_OPTIONAL
    crls = [read_crl_pem(crl_file)] if crl_file else []
    if crl_pem:
        crls.append(crl_pem)
    if crls:
        load_crls(context, "".join(crls))
    return context


def read_crl_pem(path: str) -> str:
    """The CRL in a PEM or DER file, as PEM; TlsFileError("crl") when it is not one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = _read(path, "crl")
    try:
        crl = x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_crl(data)
    except ValueError:
        raise TlsFileError("crl", f"no PEM or DER certificate revocation list in {path}") from None
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def load_crls(context: ssl.SSLContext, pem: str) -> None:
    """Check client certificates against these CRLs in the handshake (a revoked one fails it)."""
    import tempfile

    # SSLContext takes CRLs only from a file (cadata is certificates only): a private temporary one.
    with tempfile.NamedTemporaryFile("w", suffix=".crl.pem") as file:
        file.write(pem)
        file.flush()
        context.load_verify_locations(cafile=file.name)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


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


@dataclass(frozen=True, slots=True)
class Peer:
    """A TLS connection's client side as the application sees it: the verified certificate (DER), if any."""

    certificate: bytes | None = None


def peer_certificate_der(transport: Any) -> bytes | None:
    """The DER client certificate of an (asyncio or aiofastnet) TLS transport, if the client sent one."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


def asgi_tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI TLS extension (``scope["extensions"]["tls"]``) of a server connection; None without TLS.

    Besides the standard ``client_cert_chain`` (PEM; the leaf only) it carries ``peercert``, the verified
    client certificate as ``getpeercert()`` decodes it, for :func:`certificate_identity_problem`.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "tls_version": None,
        "cipher_suite": None,
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "peercert": ssl_object.getpeercert() if der else None,
    }


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


# --------------------------------------------------------------------------- failed handshakes

_handshake_log = logging.getLogger("ocppd.transport.tls")
HANDSHAKE_LOG_INTERVAL = 10.0  # seconds: one line per cause per interval, the rest counted in it


@dataclass
class HandshakeFailures:
    """Logs failed TLS handshakes as one line with the cause (rate-limited) and counts them.

    The TLS layer reports a failed server handshake to the event loop's exception handler, at times with
    the exception *class* instead of an instance, which asyncio's default handler cannot format (the
    logging traceback ``'getset_descriptor' object has no attribute 'tb_frame'``). Install
    :meth:`handle` with ``loop.set_exception_handler``; everything else goes to the default handler.
    """

    count: Callable[[str], None] = lambda cause: None
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if not (isinstance(exc, ssl.SSLError) or (isinstance(exc, type) and issubclass(exc, ssl.SSLError))
                or "SSL handshake" in message):  # fmt: skip
            if isinstance(exc, type):  # never hand the default handler a class: it cannot format one
                context = {**context, "exception": None, "message": f"{message} ({exc.__name__})"}
            loop.default_exception_handler(context)
            return
        cause = _cause(exc)
        self.count(cause)
        transport = context.get("transport")
        peer = transport.get_extra_info("peername") if transport is not None else None
        address = peer[0] if isinstance(peer, tuple) and peer else "?"
        now = time.monotonic()
        last, suppressed = self._last.get(cause, (0.0, 0))
        if now - last < HANDSHAKE_LOG_INTERVAL:
            self._last[cause] = (last, suppressed + 1)
            return
        more = f" ({suppressed} more like it in the last {HANDSHAKE_LOG_INTERVAL:.0f} s)" if suppressed else ""
        _handshake_log.warning("TLS handshake failed from %s: %s%s", address, cause, more)
        self._last[cause] = (now, 0)


_CAUSES = {
    # The client gave up in the handshake, typically because it does not trust the server certificate.
    "ConnectionResetError": "the client reset the connection (does it trust the server certificate?)",
    "BrokenPipeError": "the client closed the connection (does it trust the server certificate?)",
}


def _cause(exc: Any) -> str:
    if isinstance(exc, type):
        return _CAUSES.get(exc.__name__, exc.__name__)
    if isinstance(exc, ssl.SSLError):
        return str(getattr(exc, "reason", None) or exc.strerror or exc)
    return type(exc).__name__ if exc is not None else "unknown"
