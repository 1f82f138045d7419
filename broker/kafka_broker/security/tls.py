"""TLS for a listener, configured by Kafka's ``ssl.*`` keys: the server context that listener accepts
connections with (:func:`server_context`), the client context of the broker's own connections to other
brokers (:func:`client_context`), and certificate rotation (:class:`TlsReloader`).

Both take one listener's settings — the plain keys, ``listener.name.<name>.`` prefixes already resolved —
and check them as Kafka's ``DefaultSslEngineFactory`` does, with its messages; an error is a
:class:`TlsConfigError` naming the key. What Kafka reads is read here, with Python's ``ssl`` (OpenSSL) and
``cryptography``:

- **Key store** (the broker's certificate and key): ``ssl.keystore.type`` PEM — ``ssl.keystore.location`` a
  file with the private key (PKCS#8, encrypted with ``ssl.key.password`` if set) and the certificate chain,
  or the same inline as ``ssl.keystore.key`` and ``ssl.keystore.certificate.chain``, with no
  ``ssl.keystore.password`` — or PKCS12, a file opened with ``ssl.keystore.password``. JKS, Java's own format
  (and Kafka's default type), is refused: convert it to PKCS12 with keytool. A server needs a key store; a
  client has one only for brokers that ask for client certificates.
- **Trust store** (the CAs a peer's certificate must chain to): ``ssl.truststore.type`` PEM —
  ``ssl.truststore.location`` or inline ``ssl.truststore.certificates`` — or PKCS12 (``ssl.truststore.password``
  optional). Without one, the system's CAs (Java's ``cacerts``). Any certificate in it is a trust anchor, as in
  Java, not only self-signed roots (OpenSSL's partial-chain flag).
- ``ssl.client.auth`` (server): none, requested, required → ``CERT_NONE``, ``CERT_OPTIONAL``, ``CERT_REQUIRED``.
- ``ssl.endpoint.identification.algorithm`` (client): ``https`` checks the broker's host name against its
  certificate; empty turns that off. A client always verifies the certificate itself.
- ``ssl.enabled.protocols`` (default ``TLSv1.2,TLSv1.3``) becomes the context's minimum and maximum version;
  SSLv3, TLSv1 and TLSv1.1 are ignored, as Java 17 and OpenSSL 3 disable them. ``ssl.protocol`` names the
  highest version the *client* offers (Kafka: with ``TLSv1.2``, clients do not use TLSv1.3); TLS, SSL and
  TLSv1.3 leave it open.
- ``ssl.cipher.suites``: Java's (IANA) names of TLS 1.2 suites are translated to OpenSSL's
  (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`` → ``ECDHE-RSA-AES128-GCM-SHA256``) for the key exchanges Java
  offers (RSA, ECDHE_RSA, ECDHE_ECDSA, DHE_RSA, DHE_DSS) and ciphers AES (CBC, GCM, CCM), CHACHA20_POLY1305
  and 3DES; other names are taken as OpenSSL's. A suite OpenSSL does not have is refused, as Java refuses
  it. TLS 1.3 suites cannot be chosen through Python's ``ssl``: OpenSSL's defaults (all three AES-GCM and
  ChaCha20 suites) stay on whichever are listed, but a list without any TLS 1.3 suite allows TLS 1.2 only,
  and one with only TLS 1.3 suites TLS 1.3 only — as in Java, where a version without enabled suites is
  never negotiated.

Keys go to OpenSSL through a file, since ``SSLContext.load_cert_chain`` reads nothing else: an anonymous
in-memory file (``memfd``, Linux) or else a private temporary file, removed right after, holding the key
encrypted with a random one-time password — the key is never written anywhere in the clear.

**Rotation**: :class:`TlsReloader` remembers the content hash of the key store and trust store files;
:meth:`~TlsReloader.reload_if_changed` loads changed ones into the *same* ``SSLContext`` — new handshakes
use the new certificate, established connections keep theirs. A new key store is first loaded into a scratch
context, so a broken or half-written file leaves the context as it was. A changed trust store adds its
certificates; OpenSSL cannot remove certificates from a context, so a CA dropped from the trust store stays
trusted until the broker restarts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ..config import BROKER_CONFIGS, ConfigError, setting, settings_from

__all__ = ["TlsConfigError", "TlsReloader", "TlsSettings", "client_context", "openssl_cipher", "server_context"]

_C = BROKER_CONFIGS


class TlsConfigError(ConfigError):
    """A TLS setting that cannot be used; :attr:`key` is the (unprefixed) key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """One listener's ``ssl.*`` settings, parsed (missing keys take their defaults; empty text reads as unset)."""

    keystore_type: str = setting(_C["ssl.keystore.type"])
    keystore_location: str | None = setting(_C["ssl.keystore.location"])
    keystore_password: str | None = setting(_C["ssl.keystore.password"])
    key_password: str | None = setting(_C["ssl.key.password"])
    keystore_key: str | None = setting(_C["ssl.keystore.key"])
    keystore_certificate_chain: str | None = setting(_C["ssl.keystore.certificate.chain"])
    truststore_type: str = setting(_C["ssl.truststore.type"])
    truststore_location: str | None = setting(_C["ssl.truststore.location"])
    truststore_password: str | None = setting(_C["ssl.truststore.password"])
    truststore_certificates: str | None = setting(_C["ssl.truststore.certificates"])
    client_auth: str = setting(_C["ssl.client.auth"])
    enabled_protocols: tuple[str, ...] = setting(_C["ssl.enabled.protocols"])
    protocol: str = setting(_C["ssl.protocol"])
    cipher_suites: tuple[str, ...] = setting(_C["ssl.cipher.suites"])
    endpoint_identification_algorithm: str | None = setting(_C["ssl.endpoint.identification.algorithm"])

    @classmethod
    def of(cls, settings: Mapping[str, str]) -> TlsSettings:
        parsed = settings_from(cls, settings)
        unset: dict[str, Any] = {name: None for name in _BLANK_IS_UNSET if not (getattr(parsed, name) or "").strip()}
        return dataclasses.replace(parsed, **unset)


_BLANK_IS_UNSET = ("keystore_location", "keystore_password", "key_password", "keystore_key",
                   "keystore_certificate_chain", "truststore_location", "truststore_password",
                   "truststore_certificates", "endpoint_identification_algorithm")
"""Fields an empty value leaves unset (an empty ``ssl.endpoint.identification.algorithm`` turns the check off)."""


# --- stores ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _KeyStore:
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)


def _read(key: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(key, f"cannot read {path}: {exc.strerror}") from None


def _store_type(key: str, value: str, kind: str) -> str:
    kind_upper = value.upper()
    if kind_upper == "JKS":
        raise TlsConfigError(key, f"JKS {kind} stores are not supported: use PEM or PKCS12 (convert a JKS file "
                                  "with keytool -importkeystore -deststoretype PKCS12)")
    if kind_upper not in ("PEM", "PKCS12"):
        raise TlsConfigError(key, f"{value} {kind} stores are not supported: use PEM or PKCS12")
    return kind_upper


def _certificates(key: str, pem: bytes) -> tuple[x509.Certificate, ...]:
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(pem) if m.group(1) == b"CERTIFICATE"]
    if not blocks:
        raise TlsConfigError(key, "No matching CERTIFICATE entries in PEM file")
    try:
        return tuple(x509.load_pem_x509_certificate(block) for block in blocks)
    except ValueError as exc:
        raise TlsConfigError(key, f"invalid certificate: {exc}") from None


def _pem_key(key: str, pem: bytes, password: str | None) -> PrivateKeyTypes:
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(pem) if m.group(1).endswith(b"PRIVATE KEY")]
    if not blocks:
        raise TlsConfigError(key, "No matching PRIVATE KEY entries in PEM file")
    if len(blocks) != 1:
        raise TlsConfigError(key, f"Expected one private key, but found {len(blocks)}")
    try:
        return serialization.load_pem_private_key(blocks[0], password.encode() if password else None)
    except TypeError as exc:  # encrypted without ssl.key.password, or the reverse
        raise TlsConfigError("ssl.key.password", f"{exc} ({key})") from None
    except ValueError as exc:
        raise TlsConfigError("ssl.key.password" if password else key, f"Private key could not be loaded: {exc}") \
            from None


def _keystore(s: TlsSettings) -> _KeyStore | None:
    """The key store the settings name, checked as Kafka's ``createKeystore``; None if they name none."""
    if s.keystore_key is not None:
        if s.keystore_type.upper() != "PEM":
            raise TlsConfigError("ssl.keystore.key", "SSL private key can be specified only for PEM, but key store "
                                                     f"type is {s.keystore_type}.")
        if s.keystore_certificate_chain is None:
            raise TlsConfigError("ssl.keystore.certificate.chain",
                                 "SSL private key is specified, but certificate chain is not specified.")
        if s.keystore_location is not None:
            raise TlsConfigError("ssl.keystore.location",
                                 "Both SSL key store location and separate private key are specified.")
        if s.keystore_password is not None:
            raise TlsConfigError("ssl.keystore.password", "SSL key store password cannot be specified with PEM "
                                                          "format, only key password may be specified.")
        return _KeyStore(_pem_key("ssl.keystore.key", s.keystore_key.encode(), s.key_password),
                         _certificates("ssl.keystore.certificate.chain", s.keystore_certificate_chain.encode()))
    if s.keystore_certificate_chain is not None:
        raise TlsConfigError("ssl.keystore.certificate.chain",
                             "SSL certificate chain is specified, but private key is not specified")
    if s.keystore_location is None:
        if s.keystore_password is not None:
            raise TlsConfigError("ssl.keystore.password",
                                 "SSL key store is not specified, but key store password is specified.")
        return None
    kind = _store_type("ssl.keystore.type", s.keystore_type, "key")
    if kind == "PEM":
        if s.keystore_password is not None:
            raise TlsConfigError("ssl.keystore.password", "SSL key store password cannot be specified with PEM "
                                                          "format, only key password may be specified")
        pem = _read("ssl.keystore.location", s.keystore_location)
        return _KeyStore(_pem_key("ssl.keystore.location", pem, s.key_password),
                         _certificates("ssl.keystore.location", pem))
    if s.keystore_password is None:
        raise TlsConfigError("ssl.keystore.password",
                             "SSL key store is specified, but key store password is not specified.")
    data = _read("ssl.keystore.location", s.keystore_location)
    loaded = None
    for password in dict.fromkeys((s.keystore_password, s.key_password or s.keystore_password)):
        with contextlib.suppress(ValueError):  # PKCS#12 has one password; Java's may have a second for the key
            loaded = pkcs12.load_key_and_certificates(data, password.encode())
            break
    if loaded is None:
        raise TlsConfigError("ssl.keystore.password", f"Failed to load SSL keystore {s.keystore_location} of "
                                                      "type PKCS12: wrong password, or not a PKCS12 file")
    private_key, certificate, others = loaded
    if private_key is None or certificate is None:
        raise TlsConfigError("ssl.keystore.location", f"no private key with its certificate in the PKCS12 key "
                                                      f"store {s.keystore_location}")
    return _KeyStore(private_key, (certificate, *others))


def _truststore(s: TlsSettings) -> tuple[x509.Certificate, ...] | None:
    """The trusted certificates the settings name, checked as Kafka's ``createTruststore``; None if none."""
    if s.truststore_certificates is not None:
        if s.truststore_type.upper() != "PEM":
            raise TlsConfigError("ssl.truststore.certificates", "SSL trust store certs can be specified only for "
                                                                f"PEM, but trust store type is {s.truststore_type}.")
        if s.truststore_location is not None:
            raise TlsConfigError("ssl.truststore.location",
                                 "Both SSL trust store location and separate trust certificates are specified.")
        if s.truststore_password is not None:
            raise TlsConfigError("ssl.truststore.password",
                                 "SSL trust store password cannot be specified for PEM format.")
        return _certificates("ssl.truststore.certificates", s.truststore_certificates.encode())
    if s.truststore_location is None:
        if s.truststore_password is not None:
            raise TlsConfigError("ssl.truststore.password",
                                 "SSL trust store is not specified, but trust store password is specified.")
        return None
    kind = _store_type("ssl.truststore.type", s.truststore_type, "trust")
    data = _read("ssl.truststore.location", s.truststore_location)
    if kind == "PEM":
        if s.truststore_password is not None:
            raise TlsConfigError("ssl.truststore.password",
                                 "SSL trust store password cannot be specified for PEM format.")
        return _certificates("ssl.truststore.location", data)
    try:
        store = pkcs12.load_pkcs12(data, s.truststore_password.encode() if s.truststore_password else None)
    except ValueError:
        raise TlsConfigError("ssl.truststore.password", f"Failed to load SSL keystore {s.truststore_location} of "
                                                        "type PKCS12: wrong password, or not a PKCS12 file") from None
    certificates = [c.certificate for c in ([store.cert] if store.cert else []) + list(store.additional_certs)]
    if not certificates:
        raise TlsConfigError("ssl.truststore.location", f"no certificates in {s.truststore_location}")
    return tuple(certificates)


# --- loading into OpenSSL ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """A path to ``data`` that only this process can read, gone when the block ends: an anonymous memory file
    where the system has them, else a 0600 temporary file."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("kopfka-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="kopfka-tls-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        yield path
    finally:
        os.unlink(path)


def _load_keystore(contexts: Sequence[ssl.SSLContext], store: _KeyStore, *, key: str) -> None:
    """Key and chain into each of ``contexts``, in order (a scratch context first checks they load)."""
    password = secrets.token_hex(16)
    pem = store.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password.encode()))
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in store.chain)
    with _private_file(pem) as path:
        for context in contexts:
            try:
                context.load_cert_chain(path, password=password)
            except ssl.SSLError as exc:
                raise TlsConfigError(key, f"the private key and certificate cannot be used together: "
                                          f"{exc.reason or exc}") from None


def _load_truststore(context: ssl.SSLContext, certificates: Sequence[x509.Certificate]) -> None:
    context.load_verify_locations(cadata="".join(c.public_bytes(serialization.Encoding.PEM).decode()
                                                 for c in certificates))


def _keystore_key(s: TlsSettings) -> str:
    return "ssl.keystore.key" if s.keystore_key is not None else "ssl.keystore.location"


# --- protocols and cipher suites ---------------------------------------------------------------------------

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_DISABLED_VERSIONS = frozenset(("SSLv2Hello", "SSLv3", "TLSv1", "TLSv1.1"))
"""Known to Java, disabled in Java 17 (``jdk.tls.disabledAlgorithms``) and OpenSSL 3: ignored."""
_PROTOCOL_CAPS: dict[str, ssl.TLSVersion | None] = {
    "TLS": None, "SSL": None, "TLSv1.3": None, "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1": ssl.TLSVersion.TLSv1, "SSLv3": ssl.TLSVersion.SSLv3}
"""``ssl.protocol``: the highest version a client offers (None: no limit)."""

_TLS13_SUITES = frozenset(("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                           "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"))
_SIGNALLING_SUITES = frozenset(("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "TLS_FALLBACK_SCSV"))
"""Not suites but signals; OpenSSL sends what it needs itself."""
_KEY_EXCHANGES = {"RSA": "", "ECDHE_RSA": "ECDHE-RSA", "ECDHE_ECDSA": "ECDHE-ECDSA", "DHE_RSA": "DHE-RSA",
                  "DHE_DSS": "DHE-DSS"}
_JAVA_SUITE = re.compile(r"(?:TLS|SSL)_(?P<kx>[A-Z_]+?)_WITH_(?:(?P<chacha>CHACHA20_POLY1305)|(?P<des>3DES_EDE_CBC)"
                         r"|AES_(?P<bits>128|256)_(?P<mode>CBC|GCM|CCM_8|CCM))(?:_(?P<mac>SHA|SHA256|SHA384))?")


def openssl_cipher(name: str) -> str | None:
    """OpenSSL's name of the TLS 1.2 suite Java (and IANA) call ``name``; None if not one translated here."""
    match = _JAVA_SUITE.fullmatch(name)
    if match is None or match["kx"] not in _KEY_EXCHANGES:
        return None
    parts = [_KEY_EXCHANGES[match["kx"]]]
    if match["chacha"]:
        parts.append("CHACHA20-POLY1305")
    elif match["des"]:
        parts += ["DES-CBC3", match["mac"] or ""]
    else:
        mode = {"CBC": "", "GCM": "-GCM", "CCM": "-CCM", "CCM_8": "-CCM8"}[match["mode"]]
        parts += [f"AES{match['bits']}{mode}", "" if match["mode"].startswith("CCM") else match["mac"] or ""]
    return "-".join(part for part in parts if part)


def _cipher_exists(openssl_name: str) -> bool:
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        scratch.set_ciphers(openssl_name)
    except ssl.SSLError:
        return False
    return any(c["protocol"] != "TLSv1.3" for c in scratch.get_ciphers())


def _versions(s: TlsSettings, *, client: bool) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """The lowest and highest TLS version of the context."""
    unknown = [p for p in s.enabled_protocols if p not in _VERSIONS and p not in _DISABLED_VERSIONS]
    if unknown:
        raise TlsConfigError("ssl.enabled.protocols", f"unknown protocol {', '.join(unknown)}: use TLSv1.2, "
                                                      "TLSv1.3 or both")
    enabled = sorted(_VERSIONS[p] for p in s.enabled_protocols if p in _VERSIONS)
    if s.enabled_protocols and not enabled:
        raise TlsConfigError("ssl.enabled.protocols", f"none of {', '.join(s.enabled_protocols)} is available: use "
                                                      "TLSv1.2, TLSv1.3 or both")
    lowest, highest = (enabled[0], enabled[-1]) if enabled else (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    if s.protocol not in _PROTOCOL_CAPS:
        raise TlsConfigError("ssl.protocol", f"{s.protocol} is not a TLS protocol: use TLSv1.3 or TLSv1.2")
    cap = _PROTOCOL_CAPS[s.protocol]
    if client and cap is not None and cap < highest:
        highest = cap
        if highest < lowest:
            raise TlsConfigError("ssl.protocol", f"{s.protocol} leaves none of ssl.enabled.protocols "
                                                 f"({', '.join(s.enabled_protocols)}) to the broker's connections")
    return lowest, highest


def _configure_protocols(context: ssl.SSLContext, s: TlsSettings, *, client: bool) -> None:
    lowest, highest = _versions(s, client=client)
    if s.cipher_suites:
        unsupported = [name for name in s.cipher_suites if name not in _TLS13_SUITES | _SIGNALLING_SUITES
                       and not _cipher_exists(openssl_cipher(name) or name)]
        if unsupported:
            raise TlsConfigError("ssl.cipher.suites", f"Unsupported CipherSuite: {', '.join(unsupported)}")
        tls12 = [openssl_cipher(name) or name for name in s.cipher_suites
                 if name not in _TLS13_SUITES | _SIGNALLING_SUITES]
        if tls12:
            context.set_ciphers(":".join(tls12))
        else:
            lowest = max(lowest, ssl.TLSVersion.TLSv1_3)
        if not any(name in _TLS13_SUITES for name in s.cipher_suites):
            highest = min(highest, ssl.TLSVersion.TLSv1_2)
        if highest < lowest:
            raise TlsConfigError("ssl.cipher.suites", f"none of {', '.join(s.cipher_suites)} is a suite of the "
                                                      f"enabled protocols")
    context.minimum_version = lowest
    context.maximum_version = highest


# --- contexts ----------------------------------------------------------------------------------------------

_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_context(settings: Mapping[str, str]) -> ssl.SSLContext:
    """The context an SSL or SASL_SSL listener accepts connections with."""
    s = TlsSettings.of(settings)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure_protocols(context, s, client=False)
    keystore = _keystore(s)
    if keystore is None:
        raise TlsConfigError("ssl.keystore.location", "an SSL listener needs a key store: set ssl.keystore.location "
                                                      "(or ssl.keystore.key and ssl.keystore.certificate.chain)")
    _load_keystore([context], keystore, key=_keystore_key(s))
    context.verify_mode = _CLIENT_AUTH[s.client_auth]
    _trust(context, s, ssl.Purpose.CLIENT_AUTH)
    return context


def client_context(settings: Mapping[str, str]) -> ssl.SSLContext:
    """The context of the broker's own connections to other brokers' listener with these settings."""
    s = TlsSettings.of(settings)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _configure_protocols(context, s, client=True)
    algorithm = s.endpoint_identification_algorithm
    if algorithm is not None and algorithm.lower() != "https":
        raise TlsConfigError("ssl.endpoint.identification.algorithm", f"{algorithm} is not supported: use https, "
                                                                      "or an empty value for no host name check")
    context.check_hostname = algorithm is not None
    keystore = _keystore(s)
    if keystore is not None:
        _load_keystore([context], keystore, key=_keystore_key(s))
    _trust(context, s, ssl.Purpose.SERVER_AUTH)
    return context


def _trust(context: ssl.SSLContext, s: TlsSettings, purpose: ssl.Purpose) -> None:
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    truststore = _truststore(s)
    if truststore is not None:
        _load_truststore(context, truststore)
    elif context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(purpose)


# --- rotation ----------------------------------------------------------------------------------------------

def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class TlsReloader:
    """Reloads the key store and trust store files of ``context`` (made from ``settings``) when their content
    changes: call :meth:`reload_if_changed` now and then."""

    def __init__(self, context: ssl.SSLContext, settings: Mapping[str, str]) -> None:
        self.context = context
        self._settings = TlsSettings.of(settings)
        self._keystore = self._settings.keystore_location if self._settings.keystore_key is None else None
        self._truststore = self._settings.truststore_location if self._settings.truststore_certificates is None \
            else None
        self._digests = self._current()

    @property
    def files(self) -> tuple[str, ...]:
        """The files watched: the key store and trust store files, those that are files."""
        return tuple(path for path in (self._keystore, self._truststore) if path is not None)

    def _current(self) -> dict[str, str | None]:
        return {path: _digest(path) for path in self.files}

    def reload_if_changed(self) -> bool:
        """Loads the stores whose files changed since the last look; True if any did. TlsConfigError if a
        changed file cannot be used: the context keeps what it had, and that content is not tried again.
        A file that cannot be read (being replaced) counts as unchanged until it can."""
        current = self._current()
        changed = {path for path, digest in current.items() if digest is not None and digest != self._digests[path]}
        if not changed:
            return False
        self._digests.update({path: current[path] for path in changed})
        if self._keystore in changed:
            keystore = _keystore(self._settings)
            assert keystore is not None
            scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            _load_keystore([scratch, self.context], keystore, key="ssl.keystore.location")
        if self._truststore in changed:
            truststore = _truststore(self._settings)
            assert truststore is not None
            _load_truststore(self.context, truststore)
        return True
