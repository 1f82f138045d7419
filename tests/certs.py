"""Certificates for tests, made with ``cryptography``: a CA, server and client certificates it signs, and
their files in the formats Kafka's ``ssl.*`` keys read.

``CertificateAuthority()`` makes a self-signed CA; ``ca.server(dns=..., ips=...)`` a server certificate
with those subject alternative names, ``ca.client("CN=alice,OU=eng,O=acme,C=US")`` a client certificate
with that subject (RFC 4514 text, most significant RDN last, as Java prints it); either ``expired=True`` or
``not_yet_valid=True``. An :class:`Identity` (key and chain) writes:

- ``write_pem(path)``: private key then certificate chain in one file — Kafka's PEM key store
  (``ssl.keystore.type=PEM``); with ``password`` the key is encrypted PKCS#8 (``ssl.key.password``);
- ``write_key(path)`` / ``write_chain(path)``: the two halves separately; ``key_pem()`` / ``chain_pem()``
  the same as text, for the inline ``ssl.keystore.key`` / ``ssl.keystore.certificate.chain``;
- ``write_pkcs12(path, password)``: a PKCS#12 key store (``ssl.keystore.type=PKCS12``).

The CA writes trust stores: ``ca.write_pem(path)`` (PEM) and ``ca.write_pkcs12(path, password)`` (PKCS#12).
Keys are EC P-256 unless ``key_type="rsa"`` (2048 bits): quick to make, accepted everywhere.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = ["CertificateAuthority", "Identity", "PrivateKey"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeyType = Literal["ec", "rsa"]

_DAY = datetime.timedelta(days=1)


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(subject: str | x509.Name) -> x509.Name:
    return subject if isinstance(subject, x509.Name) else x509.Name.from_rfc4514_string(subject)


def _validity(expired: bool, not_yet_valid: bool) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        return now - 30 * _DAY, now - _DAY
    if not_yet_valid:
        return now + _DAY, now + 30 * _DAY
    return now - _DAY, now + 30 * _DAY


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Identity:
    """A private key and its certificate chain (the certificate first, then its issuers short of the root)."""

    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    def key_pem(self, password: str | None = None) -> str:
        """The key as PKCS#8 PEM, encrypted with ``password`` if given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      encryption).decode()

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)

    def write_pem(self, path: Path, *, password: str | None = None) -> Path:
        """Key and chain in one PEM file: Kafka's PEM key store."""
        return _write(path, (self.key_pem(password) + self.chain_pem()).encode())

    def write_key(self, path: Path, *, password: str | None = None) -> Path:
        return _write(path, self.key_pem(password).encode())

    def write_chain(self, path: Path) -> Path:
        return _write(path, self.chain_pem().encode())

    def write_pkcs12(self, path: Path, password: str, *, alias: str = "kafka") -> Path:
        data = pkcs12.serialize_key_and_certificates(
            alias.encode(), self.key, self.certificate, list(self.chain[1:]) or None,
            serialization.BestAvailableEncryption(password.encode()))
        return _write(path, data)


@dataclass
class CertificateAuthority:
    """A self-signed CA that issues server and client certificates."""

    subject: str = "CN=kopfka test CA,O=kopfka"
    key_type: KeyType = "ec"
    key: PrivateKey = field(init=False)
    certificate: x509.Certificate = field(init=False)
    _serial: int = field(init=False, default=1000)

    def __post_init__(self) -> None:
        self.key = _new_key(self.key_type)
        name = _name(self.subject)
        not_before, not_after = _validity(False, False)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write_pem(self, path: Path) -> Path:
        """The CA certificate as a PEM trust store."""
        return _write(path, self.pem().encode())

    def write_pkcs12(self, path: Path, password: str) -> Path:
        """The CA certificate alone in a PKCS#12 trust store."""
        data = pkcs12.serialize_key_and_certificates(
            None, None, None, [self.certificate], serialization.BestAvailableEncryption(password.encode()))
        return _write(path, data)

    def issue(
        self,
        subject: str | x509.Name,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        server: bool = True,
        client: bool = True,
        expired: bool = False,
        not_yet_valid: bool = False,
        key_type: KeyType = "ec",
    ) -> Identity:
        """A certificate for ``subject`` with those subject alternative names, signed by this CA."""
        key = _new_key(key_type)
        not_before, not_after = _validity(expired, not_yet_valid)
        self._serial += 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(self._serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
        )
        usages = [u for u, wanted in ((ExtendedKeyUsageOID.SERVER_AUTH, server),
                                      (ExtendedKeyUsageOID.CLIENT_AUTH, client)) if wanted]
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return Identity(key, (builder.sign(self.key, hashes.SHA256()),))

    def server(
        self,
        *,
        dns: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        subject: str | x509.Name = "CN=localhost,O=kopfka",
        expired: bool = False,
        not_yet_valid: bool = False,
        key_type: KeyType = "ec",
    ) -> Identity:
        """A broker's certificate: by default for ``localhost`` and ``127.0.0.1``."""
        return self.issue(subject, dns=dns, ips=ips, expired=expired, not_yet_valid=not_yet_valid,
                          key_type=key_type)

    def client(
        self,
        subject: str | x509.Name = "CN=client,O=kopfka",
        *,
        expired: bool = False,
        not_yet_valid: bool = False,
        key_type: KeyType = "ec",
    ) -> Identity:
        """A client's certificate with that subject, for mutual TLS."""
        return self.issue(subject, server=False, expired=expired, not_yet_valid=not_yet_valid, key_type=key_type)

