"""model/certificates.py: CAs, issued certificates, their subjects, SANs and validity, and a real mutual-TLS
handshake with them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from kafka_operator.model.certificates import (
    KeyPair,
    due,
    issue,
    issued_by,
    matches,
    new_ca,
    not_after,
    renew_ca,
    sans,
    subject,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
BROKER = "CN=demo-broker,O=kopfka.io"


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return new_ca(common_name="demo-cluster-ca", now=NOW, validity_days=1825)


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_a_new_ca_is_a_self_signed_rsa_ca_of_kopfka(ca: KeyPair) -> None:
    cert = load(ca.cert_pem)
    assert subject(ca.cert_pem) == "CN=demo-cluster-ca,O=kopfka.io"
    assert cert.issuer == cert.subject and issued_by(ca.cert_pem, ca.cert_pem)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert ca.key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS #8, unencrypted
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=1)
    assert not_after(ca.cert_pem) == NOW + 1825 * DAY and matches(ca)


@pytest.mark.parametrize("name", [BROKER, "CN=alice", "CN=bob,OU=eng,O=acme,C=US", r"CN=a\,b\=c\+d\#e", r"CN=\ pad\ "])
def test_subjects_print_as_kafka_prints_them(ca: KeyPair, name: str) -> None:
    cert = issue(ca, subject=name, client=True, now=NOW, validity_days=30)
    assert subject(cert.cert_pem) == name


def test_the_most_specific_attribute_is_printed_first_and_encoded_last(ca: KeyPair) -> None:
    cert = load(issue(ca, subject=BROKER, now=NOW, validity_days=30).cert_pem)
    assert [attr.rfc4514_attribute_name for attr in cert.subject] == ["O", "CN"]


@pytest.mark.parametrize("name", ["CN=alice,1.2.840.113549.1.9.1=alice@example.com", "CN=alice,serialNumber=7"])
def test_subjects_beyond_rfc2253_keywords_are_refused(ca: KeyPair, name: str) -> None:
    with pytest.raises(ValueError, match="RFC 2253 keywords"):
        issue(ca, subject=name, now=NOW, validity_days=30)


def test_leaf_certificates(ca: KeyPair) -> None:
    broker = issue(
        ca,
        subject=BROKER,
        sans=["localhost", "127.0.0.1", "demo-broker-0.demo-brokers.kafka.svc", "::0001", "localhost"],
        server=True,
        client=True,
        now=NOW,
        validity_days=365,
    )
    assert sans(broker.cert_pem) == ("127.0.0.1", "::1", "demo-broker-0.demo-brokers.kafka.svc", "localhost")
    cert = load(broker.cert_pem)
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert [str(ip) for ip in ips] == ["127.0.0.1", "::1"]
    usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=1)
    assert not_after(broker.cert_pem) == NOW + 365 * DAY
    assert issued_by(broker.cert_pem, ca.cert_pem) and matches(broker)
    assert broker.key_pem.startswith("-----BEGIN PRIVATE KEY-----")

    client = load(issue(ca, subject="CN=alice", client=True, now=NOW, validity_days=30).cert_pem)
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_the_pem_key_store_is_the_key_then_the_certificate(ca: KeyPair) -> None:
    broker = issue(ca, subject=BROKER, sans=["localhost"], server=True, now=NOW, validity_days=30)
    assert broker.pem == broker.key_pem + broker.cert_pem
    assert KeyPair.from_pem(broker.pem) == broker
    with pytest.raises(ValueError):
        KeyPair.from_pem(broker.cert_pem)


def test_validity_is_capped_by_the_ca() -> None:
    short = new_ca(common_name="short", now=NOW, validity_days=10)
    leaf = issue(short, subject="CN=alice", client=True, now=NOW + DAY, validity_days=365)
    assert not_after(leaf.cert_pem) == not_after(short.cert_pem) == NOW + 10 * DAY


def test_due_at_the_boundaries(ca: KeyPair) -> None:
    leaf = issue(ca, subject="CN=alice", client=True, now=NOW, validity_days=365)
    window_opens = not_after(leaf.cert_pem) - 30 * DAY
    assert not due(leaf.cert_pem, now=NOW, renewal_days=30)
    assert not due(leaf.cert_pem, now=window_opens - datetime.timedelta(seconds=1), renewal_days=30)
    assert due(leaf.cert_pem, now=window_opens, renewal_days=30)
    assert due(leaf.cert_pem, now=not_after(leaf.cert_pem) + datetime.timedelta(seconds=1), renewal_days=30)
    assert due(leaf.cert_pem, now=not_after(leaf.cert_pem), renewal_days=0)
    assert not due(leaf.cert_pem, now=not_after(leaf.cert_pem) - datetime.timedelta(seconds=1), renewal_days=0)


def test_issued_by_is_false_for_another_ca_even_with_the_same_name(ca: KeyPair) -> None:
    leaf = issue(ca, subject="CN=alice", client=True, now=NOW, validity_days=30)
    namesake = new_ca(common_name="demo-cluster-ca", now=NOW, validity_days=1825)
    other = new_ca(common_name="other-ca", now=NOW, validity_days=1825)
    assert subject(namesake.cert_pem) == subject(ca.cert_pem)
    assert not issued_by(leaf.cert_pem, namesake.cert_pem)
    assert not issued_by(leaf.cert_pem, other.cert_pem)
    assert not matches(KeyPair(leaf.cert_pem, other.key_pem))


def verify_server(leaf: KeyPair, trusted: KeyPair, *, at: datetime.datetime, host: str = "localhost") -> None:
    store = Store([load(trusted.cert_pem)])
    verifier = PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(host))
    verifier.verify(load(leaf.cert_pem), [])


def test_renew_ca_keeps_key_and_subject_and_old_certificates_still_verify() -> None:
    old_ca = new_ca(common_name="demo-cluster-ca", now=NOW, validity_days=100)
    old_leaf = issue(old_ca, subject=BROKER, sans=["localhost"], server=True, client=True, now=NOW, validity_days=365)
    renewed_at = NOW + 75 * DAY
    renewed = renew_ca(old_ca, now=renewed_at, validity_days=100)

    assert renewed.key_pem == old_ca.key_pem and subject(renewed.cert_pem) == subject(old_ca.cert_pem)
    assert load(renewed.cert_pem).serial_number != load(old_ca.cert_pem).serial_number
    assert not_after(renewed.cert_pem) == renewed_at + 100 * DAY
    new_leaf = issue(renewed, subject=BROKER, sans=["localhost"], server=True, now=renewed_at, validity_days=365)
    assert not_after(new_leaf.cert_pem) == not_after(renewed.cert_pem)

    at = renewed_at + DAY  # both CA certificates and both leaves are valid
    verify_server(old_leaf, renewed, at=at)  # brokers not yet re-issued, clients with the new CA certificate
    verify_server(new_leaf, old_ca, at=at)  # re-issued brokers, clients still holding the old CA certificate
    assert issued_by(old_leaf.cert_pem, renewed.cert_pem) and issued_by(new_leaf.cert_pem, old_ca.cert_pem)
    with pytest.raises(VerificationError):
        verify_server(old_leaf, new_ca(common_name="demo-cluster-ca", now=NOW, validity_days=100), at=at)
    with pytest.raises(VerificationError):
        verify_server(new_leaf, renewed, at=at, host="elsewhere")


# --- a real handshake ---------------------------------------------------------------------------------------


def cert_file(tmp_path: Path, name: str, pair: KeyPair) -> str:
    path = tmp_path / name
    path.write_text(pair.pem)
    return str(path)


async def test_mutual_tls_handshake_over_loopback(tmp_path: Path) -> None:
    """A server with an issued broker certificate requires a client certificate; clients trust the CA alone."""
    now = datetime.datetime.now(datetime.UTC)
    ca = new_ca(common_name="demo-cluster-ca", now=now, validity_days=10)
    broker = issue(
        ca, subject=BROKER, sans=["127.0.0.1", "localhost"], server=True, client=True, now=now, validity_days=1
    )
    alice = issue(ca, subject="CN=alice", client=True, now=now, validity_days=1)
    stranger_ca = new_ca(common_name="stranger-ca", now=now, validity_days=10)
    stranger = issue(stranger_ca, subject="CN=mallory", client=True, now=now, validity_days=1)

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert_pem)
    server_context.load_cert_chain(cert_file(tmp_path, "broker-0.pem", broker))
    server_context.verify_mode = ssl.CERT_REQUIRED
    peers: list[str] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        peers.append(subject(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()))
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    def client_context(identity: KeyPair | None, name: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=ca.cert_pem)
        if identity is not None:
            context.load_cert_chain(cert_file(tmp_path, name, identity))
        return context

    async def round_trip(context: ssl.SSLContext, host: str) -> bytes:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host), 10
        )
        try:
            writer.write(b"ping\n")
            await writer.drain()
            return await asyncio.wait_for(reader.readline(), 10)
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        alice_context = client_context(alice, "alice.pem")
        assert await round_trip(alice_context, "localhost") == b"ping\n"
        assert await round_trip(alice_context, "127.0.0.1") == b"ping\n"  # the IP SAN
        assert peers == ["CN=alice", "CN=alice"]

        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            await round_trip(alice_context, "elsewhere.example")
        for refused in (client_context(None, ""), client_context(stranger, "mallory.pem")):
            try:  # with TLS 1.3 the server's refusal shows at the client's first read
                reply = await round_trip(refused, "localhost")
            except (ssl.SSLError, ConnectionError):
                reply = b""
            assert reply == b""
        assert peers == ["CN=alice", "CN=alice"]
    finally:
        server.close()
        await server.wait_closed()
