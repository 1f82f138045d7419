"""Certificate authorities and the certificates they issue: pure functions over ``cryptography``.

A CA is a self-signed certificate (``CA:TRUE``, ``keyCertSign``) with an RSA 2048 key. It is renewed with the
same key and subject (:func:`renew_ca`): certificates issued before the renewal still verify against the new
CA certificate, and clients holding the old one still trust what is issued after it, so a renewal never has to
replace every trust store at once. Leaf certificates (brokers, the operator, TLS users) get a fresh RSA 2048
key, the subject as Kafka prints it, their SANs (host names and IP addresses), ``serverAuth`` and/or
``clientAuth``, and a validity that starts a minute before ``now`` (clock skew) and never outlasts their CA.
Everything is signed with SHA-256.

**Subjects** are written in Kafka's print form, Java's ``X500Principal.getName()`` (RFC 2253): the most specific
attribute first (``CN=demo-broker,O=kopfka.io``), so it is encoded in the reverse order; values escape
``, = + < > # ; " \\`` with a backslash, NUL as ``\\00``, and leading or trailing spaces. That text is what the
brokers' ``ssl.principal.mapping.rules``, ``super.users`` and ACLs see (``User:CN=alice``). Only RFC 2253's
keywords (CN, C, L, ST, O, OU, STREET, DC, UID) are accepted in :func:`issue`; :func:`subject` prints any other
attribute of a foreign certificate by its dotted OID and text value (where Java would print ``#`` and the DER).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .names import PRINCIPAL_ORGANIZATION

__all__ = [
    "KeyPair",
    "canonical_sans",
    "due",
    "is_ca",
    "issue",
    "issued_by",
    "matches",
    "new_ca",
    "not_after",
    "renew_ca",
    "sans",
    "subject",
]

KEY_SIZE = 2048
CLOCK_SKEW = datetime.timedelta(minutes=1)
"""How far before ``now`` a new certificate's validity starts, for peers whose clocks run a little behind."""

_RFC2253_KEYWORDS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
}
_ESCAPED = frozenset(',=+<>#;"\\')
_PADDING = " \r"
_ISSUER_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: str
    key_pem: str
    """PKCS #8, unencrypted (a user-supplied CA's key as the user wrote it)."""

    @property
    def pem(self) -> str:
        """Key then certificate: a broker's PEM key store file (``ssl.keystore.type=PEM``)."""
        return self.key_pem + self.cert_pem

    @classmethod
    def from_pem(cls, pem: str) -> KeyPair:
        """The inverse of :attr:`pem`: the private key block, and the certificate blocks in order.
        ValueError when either is missing or does not parse."""
        blocks = [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(pem)]
        keys = [block for kind, block in blocks if kind.endswith("PRIVATE KEY")]
        certs = [block for kind, block in blocks if kind == "CERTIFICATE"]
        if len(keys) != 1 or not certs:
            raise ValueError("expected one private key and a certificate")
        pair = cls(cert_pem="".join(certs), key_pem=keys[0])
        _private_key(pair.key_pem)
        _certificate(pair.cert_pem)
        return pair


def _certificate(cert_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_pem.encode())


def _private_key(key_pem: str) -> CertificateIssuerPrivateKeyTypes:
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if not isinstance(key, _ISSUER_KEYS):
        raise ValueError(f"a {type(key).__name__} cannot sign certificates")
    return key


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _sign(builder: x509.CertificateBuilder, key: CertificateIssuerPrivateKeyTypes) -> str:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def _ca_certificate(
    key: CertificateIssuerPrivateKeyTypes, name: x509.Name, *, now: datetime.datetime, validity_days: int
) -> str:
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return _sign(builder, key)


def new_ca(*, common_name: str, now: datetime.datetime, validity_days: int) -> KeyPair:
    """A self-signed CA ``CN=<common_name>,O=kopfka.io`` with a new key."""
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, PRINCIPAL_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return KeyPair(_ca_certificate(key, name, now=now, validity_days=validity_days), _key_pem(key))


def renew_ca(ca: KeyPair, *, now: datetime.datetime, validity_days: int) -> KeyPair:
    """The same CA (key and subject) with a new serial number and validity."""
    key = _private_key(ca.key_pem)
    cert = _ca_certificate(key, _certificate(ca.cert_pem).subject, now=now, validity_days=validity_days)
    return KeyPair(cert, ca.key_pem)


def _parse_subject(text: str) -> x509.Name:
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise ValueError(f"subject {text!r} does not parse as RFC 2253 keywords: {exc}") from exc
    unknown = [attr.oid.dotted_string for attr in name if attr.oid not in _RFC2253_KEYWORDS]
    if unknown:
        raise ValueError(f"subject {text!r}: only RFC 2253 keywords are supported, not {', '.join(unknown)}")
    return name


def canonical_sans(names: Sequence[str]) -> tuple[str, ...]:
    """SANs as :func:`sans` reads them back from a certificate: IP addresses in their standard text form,
    duplicates dropped, sorted."""
    return tuple(sorted({_general_name_text(_general_name(name)) for name in names}))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _general_name_text(name: x509.GeneralName) -> str:
    return str(name.value)


def issue(
    ca: KeyPair,
    *,
    subject: str,
    sans: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    now: datetime.datetime,
    validity_days: int,
) -> KeyPair:
    """A leaf certificate with a new key, signed by ``ca``. ``subject`` in Kafka's print form
    (``CN=alice``, ``CN=demo-broker,O=kopfka.io``); ``sans`` host names and IP addresses; ``server`` and
    ``client`` the extended key usages. Its validity ends ``validity_days`` after ``now``, or with the CA."""
    name = _parse_subject(subject)
    ca_cert = _certificate(ca.cert_pem)
    ca_key = _private_key(ca.key_pem)
    key = _new_key()
    public = key.public_key()
    usages = [
        oid
        for oid, wanted in ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client))
        if wanted
    ]
    end = min(now + datetime.timedelta(days=validity_days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        general_names = [_general_name(text) for text in canonical_sans(sans)]
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    cert_pem = _sign(builder, ca_key)
    if (printed := _print_name(_certificate(cert_pem).subject)) != subject:
        raise ValueError(f"subject {subject!r} is not in Kafka's print form (it prints as {printed!r})")
    return KeyPair(cert_pem, _key_pem(key))


def _escape(value: str) -> str:
    """An attribute value as Java's ``X500Principal.getName()`` writes it."""
    escaped = "".join("\\" + c if c in _ESCAPED else "\\00" if c == "\0" else c for c in value)
    lead = len(escaped) - len(escaped.lstrip(_PADDING))
    trail = len(escaped.rstrip(_PADDING))
    return "".join("\\" + c if i < lead or i >= trail else c for i, c in enumerate(escaped))


def _authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Names the CA's key as the CA itself does (its subjectKeyIdentifier, when it has one)."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _print_name(name: x509.Name) -> str:
    rdns = []
    for rdn in name.rdns:
        attributes = []
        for attr in rdn:
            keyword = _RFC2253_KEYWORDS.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            attributes.append(f"{keyword}={_escape(value)}")
        rdns.append("+".join(attributes))
    return ",".join(reversed(rdns))


def subject(cert_pem: str) -> str:
    """The certificate's subject as Kafka prints it (RFC 2253, the most specific attribute first)."""
    return _print_name(_certificate(cert_pem).subject)


def sans(cert_pem: str) -> tuple[str, ...]:
    """The certificate's DNS names and IP addresses, as text, sorted."""
    try:
        extension = _certificate(cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        sorted(_general_name_text(name) for name in extension.value if isinstance(name, x509.DNSName | x509.IPAddress))
    )


def not_after(cert_pem: str) -> datetime.datetime:
    """When the certificate expires (timezone-aware, UTC)."""
    return _certificate(cert_pem).not_valid_after_utc


def due(cert_pem: str, *, now: datetime.datetime, renewal_days: int) -> bool:
    """Expired, or expiring within ``renewal_days`` of ``now``: time to renew."""
    return now >= not_after(cert_pem) - datetime.timedelta(days=renewal_days)


def issued_by(cert_pem: str, ca_cert_pem: str) -> bool:
    """The certificate names the CA as its issuer and the CA's key signed it."""
    try:
        _certificate(cert_pem).verify_directly_issued_by(_certificate(ca_cert_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca(cert_pem: str) -> bool:
    """The certificate may sign others (``basicConstraints`` ``CA:TRUE``)."""
    try:
        constraints = _certificate(cert_pem).extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def matches(key: KeyPair) -> bool:
    """The certificate's public key is the private key's."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    cert_public = _certificate(key.cert_pem).public_key().public_bytes(serialization.Encoding.PEM, spki)
    return cert_public == _private_key(key.key_pem).public_key().public_bytes(serialization.Encoding.PEM, spki)
