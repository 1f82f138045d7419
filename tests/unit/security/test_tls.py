"""TLS contexts from Kafka's ``ssl.*`` keys, tried with real handshakes over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from tests.certs import CertificateAuthority, Identity

from kafka_broker.security.tls import (
    TlsConfigError,
    TlsReloader,
    client_context,
    openssl_cipher,
    server_context,
)

HANDSHAKE_ERRORS = (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="module")
def server_identity(ca: CertificateAuthority) -> Identity:
    return ca.server()


@pytest.fixture
def server_keystore(tmp: Path, server_identity: Identity) -> dict[str, str]:
    return {"ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(server_identity.write_pem(tmp / "server.pem"))}


@pytest.fixture
def truststore(tmp: Path, ca: CertificateAuthority) -> dict[str, str]:
    return {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.write_pem(tmp / "ca.pem"))}


@contextlib.asynccontextmanager
async def serving(context: ssl.SSLContext) -> AsyncIterator[int]:
    """An echo server on loopback with ``context``; yields its port."""
    handlers: set[asyncio.Task[None]] = set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except HANDSHAKE_ERRORS:
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


class Connection:
    """A client connection; :meth:`echo` sends a line and returns what came back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @property
    def ssl_object(self) -> ssl.SSLObject:
        ssl_object = self.writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        return ssl_object

    @property
    def server_serial(self) -> int:
        der = self.ssl_object.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    async def echo(self, text: str = "ping") -> str:
        self.writer.write(f"{text}\n".encode())
        await self.writer.drain()
        return (await asyncio.wait_for(self.reader.readline(), 10)).decode().rstrip("\n")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(*HANDSHAKE_ERRORS):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connected(context: ssl.SSLContext, port: int, host: str = "localhost") -> AsyncIterator[Connection]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host), 10)
    connection = Connection(reader, writer)
    try:
        yield connection
    finally:
        await connection.close()


async def talks(client: ssl.SSLContext, port: int, host: str = "localhost") -> bool:
    """Whether a connection with ``client`` completes a round trip (with TLS 1.3 a refused client
    certificate shows only after the client's handshake, at the first read)."""
    try:
        async with connected(client, port, host) as connection:
            return await connection.echo() == "ping"
    except HANDSHAKE_ERRORS:
        return False


# --- handshakes ----------------------------------------------------------------------------------------

async def test_server_only_tls(server_keystore: dict[str, str], truststore: dict[str, str]) -> None:
    async with serving(server_context(server_keystore)) as port:
        client = client_context(truststore)
        async with connected(client, port) as connection:
            assert await connection.echo("hello") == "hello"
            assert connection.ssl_object.version() == "TLSv1.3"


async def test_client_without_trust_in_the_ca_refuses_the_server(server_keystore: dict[str, str]) -> None:
    async with serving(server_context(server_keystore)) as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", port, ssl=client_context({}), server_hostname="localhost")


async def test_mutual_tls_required(tmp: Path, ca: CertificateAuthority, server_keystore: dict[str, str],
                                   truststore: dict[str, str]) -> None:
    server = server_context({**server_keystore, **truststore, "ssl.client.auth": "required"})
    assert server.verify_mode == ssl.CERT_REQUIRED
    client_pem = ca.client("CN=alice").write_pem(tmp / "alice.pem")
    with_certificate = client_context({**truststore, "ssl.keystore.type": "PEM",
                                       "ssl.keystore.location": str(client_pem)})
    async with serving(server) as port:
        assert await talks(with_certificate, port)
        assert not await talks(client_context(truststore), port)
        stranger = CertificateAuthority().client("CN=mallory").write_pem(tmp / "mallory.pem")
        assert not await talks(client_context({**truststore, "ssl.keystore.type": "PEM",
                                               "ssl.keystore.location": str(stranger)}), port)


async def test_mutual_tls_requested(tmp: Path, ca: CertificateAuthority, server_keystore: dict[str, str],
                                    truststore: dict[str, str]) -> None:
    server = server_context({**server_keystore, **truststore, "ssl.client.auth": "requested"})
    assert server.verify_mode == ssl.CERT_OPTIONAL
    client_pem = ca.client("CN=alice").write_pem(tmp / "alice.pem")
    async with serving(server) as port:
        assert await talks(client_context(truststore), port)
        assert await talks(client_context({**truststore, "ssl.keystore.type": "PEM",
                                           "ssl.keystore.location": str(client_pem)}), port)
        stranger = CertificateAuthority().client("CN=mallory").write_pem(tmp / "mallory.pem")
        assert not await talks(client_context({**truststore, "ssl.keystore.type": "PEM",
                                               "ssl.keystore.location": str(stranger)}), port)


async def test_client_auth_none_by_default(server_keystore: dict[str, str]) -> None:
    assert server_context(server_keystore).verify_mode == ssl.CERT_NONE


def test_client_auth_refuses_other_values(server_keystore: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=re.escape("Invalid value REQUIRED for configuration ssl.client.auth")):
        server_context({**server_keystore, "ssl.client.auth": "REQUIRED"})


async def test_tls13_only_server_refuses_tls12_only_client(server_keystore: dict[str, str],
                                                           truststore: dict[str, str]) -> None:
    async with serving(server_context({**server_keystore, "ssl.enabled.protocols": "TLSv1.3"})) as port:
        assert not await talks(client_context({**truststore, "ssl.enabled.protocols": "TLSv1.2"}), port)
        assert await talks(client_context({**truststore, "ssl.enabled.protocols": "TLSv1.3"}), port)


async def test_tls12_only_server(server_keystore: dict[str, str], truststore: dict[str, str]) -> None:
    async with serving(server_context({**server_keystore, "ssl.enabled.protocols": "TLSv1.2"})) as port:
        assert not await talks(client_context({**truststore, "ssl.enabled.protocols": "TLSv1.3"}), port)
        async with connected(client_context(truststore), port) as connection:
            assert connection.ssl_object.version() == "TLSv1.2"


async def test_ssl_protocol_caps_the_client(server_keystore: dict[str, str], truststore: dict[str, str]) -> None:
    client = client_context({**truststore, "ssl.protocol": "TLSv1.2"})
    assert client.maximum_version == ssl.TLSVersion.TLSv1_2
    async with serving(server_context({**server_keystore, "ssl.protocol": "TLSv1.2"})) as port:
        async with connected(client, port) as connection:  # the server is not capped
            assert connection.ssl_object.version() == "TLSv1.2"
        async with connected(client_context(truststore), port) as connection:
            assert connection.ssl_object.version() == "TLSv1.3"


def test_protocol_errors(server_keystore: dict[str, str]) -> None:
    with pytest.raises(TlsConfigError, match=re.escape("ssl.enabled.protocols: unknown protocol TLSv9")):
        server_context({**server_keystore, "ssl.enabled.protocols": "TLSv1.2,TLSv9"})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.enabled.protocols: none of TLSv1, TLSv1.1 is available")):
        server_context({**server_keystore, "ssl.enabled.protocols": "TLSv1,TLSv1.1"})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.protocol: TLSv2 is not a TLS protocol")):
        server_context({**server_keystore, "ssl.protocol": "TLSv2"})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.protocol: TLSv1.2 leaves none of ssl.enabled.protocols")):
        client_context({"ssl.protocol": "TLSv1.2", "ssl.enabled.protocols": "TLSv1.3"})
    context = server_context({**server_keystore, "ssl.enabled.protocols": "TLSv1.1,TLSv1.2"})
    assert (context.minimum_version, context.maximum_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)


# --- cipher suites -------------------------------------------------------------------------------------

async def test_java_cipher_suite_names(server_keystore: dict[str, str], truststore: dict[str, str]) -> None:
    suites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    server = server_context({**server_keystore, "ssl.cipher.suites": suites})
    async with serving(server) as port, connected(client_context(truststore), port) as connection:
        # no TLS 1.3 suite listed: TLS 1.3 is off, as in Java
        assert connection.ssl_object.version() == "TLSv1.2"
        assert connection.ssl_object.cipher() == ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2", 128)


async def test_tls13_suites_alone_leave_tls13_only(server_keystore: dict[str, str],
                                                   truststore: dict[str, str]) -> None:
    server = server_context({**server_keystore, "ssl.cipher.suites": "TLS_AES_256_GCM_SHA384"})
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    async with serving(server) as port:
        assert not await talks(client_context({**truststore, "ssl.enabled.protocols": "TLSv1.2"}), port)
        assert await talks(client_context(truststore), port)


def test_cipher_suite_errors(server_keystore: dict[str, str]) -> None:
    with pytest.raises(TlsConfigError, match=re.escape("ssl.cipher.suites: Unsupported CipherSuite: TLS_FOO_WITH_BAR")):
        server_context({**server_keystore, "ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                                                                "TLS_FOO_WITH_BAR"})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.cipher.suites: none of TLS_AES_128_GCM_SHA256 is a suite")):
        server_context({**server_keystore, "ssl.cipher.suites": "TLS_AES_128_GCM_SHA256",
                        "ssl.enabled.protocols": "TLSv1.2"})
    # OpenSSL's own names are accepted as they are
    server_context({**server_keystore, "ssl.cipher.suites": "ECDHE-ECDSA-AES256-GCM-SHA384"})


def test_openssl_cipher_names() -> None:
    assert openssl_cipher("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384") == "ECDHE-RSA-AES256-GCM-SHA384"
    assert openssl_cipher("TLS_RSA_WITH_AES_128_CBC_SHA") == "AES128-SHA"
    assert openssl_cipher("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384") == "ECDHE-ECDSA-AES256-SHA384"
    assert openssl_cipher("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256") == "DHE-RSA-CHACHA20-POLY1305"
    assert openssl_cipher("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8") == "ECDHE-ECDSA-AES128-CCM8"
    assert openssl_cipher("SSL_RSA_WITH_3DES_EDE_CBC_SHA") == "DES-CBC3-SHA"
    assert openssl_cipher("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256") is None  # static ECDH: not in OpenSSL
    assert openssl_cipher("ECDHE-RSA-AES128-SHA") is None


def test_openssl_cipher_names_match_openssls_own_table(require: Callable[[bool | str | Path, str], None]) -> None:
    """Every suite OpenSSL knows whose IANA name is translated gets OpenSSL's name for it."""
    require("openssl", "the openssl command prints OpenSSL's table of standard suite names")
    table = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
                           capture_output=True, text=True, check=True).stdout
    pairs = [(fields[0], fields[2]) for fields in (line.split() for line in table.splitlines())]
    translated = {standard: openssl_cipher(standard) for standard, _ in pairs}
    assert {standard: name for standard, name in pairs if translated[standard]} == \
        {standard: name for standard, name in translated.items() if name}
    assert len([name for name in translated.values() if name]) > 30


# --- key stores and trust stores -----------------------------------------------------------------------

async def test_pkcs12_keystore_and_truststore(tmp: Path, ca: CertificateAuthority,
                                              server_identity: Identity) -> None:
    server = server_context({"ssl.keystore.type": "PKCS12", "ssl.keystore.password": "store-secret",
                             "ssl.keystore.location": str(server_identity.write_pkcs12(tmp / "s.p12",
                                                                                       "store-secret"))})
    client = client_context({"ssl.truststore.type": "PKCS12", "ssl.truststore.password": "trust-secret",
                             "ssl.truststore.location": str(ca.write_pkcs12(tmp / "ca.p12", "trust-secret"))})
    async with serving(server) as port, connected(client, port) as connection:
        assert connection.server_serial == server_identity.serial


def test_pkcs12_wrong_password(tmp: Path, server_identity: Identity) -> None:
    location = str(server_identity.write_pkcs12(tmp / "s.p12", "store-secret"))
    message = f"ssl.keystore.password: Failed to load SSL keystore {location}"
    with pytest.raises(TlsConfigError, match=re.escape(message)):
        server_context({"ssl.keystore.type": "PKCS12", "ssl.keystore.password": "nope",
                        "ssl.keystore.location": location})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.keystore.password: SSL key store is specified, "
                                                       "but key store password is not specified.")):
        server_context({"ssl.keystore.type": "PKCS12", "ssl.keystore.location": location})


async def test_encrypted_pem_keystore(tmp: Path, server_identity: Identity, truststore: dict[str, str]) -> None:
    location = str(server_identity.write_pem(tmp / "server.pem", password="key-secret"))
    assert "ENCRYPTED PRIVATE KEY" in Path(location).read_text()
    settings = {"ssl.keystore.type": "PEM", "ssl.keystore.location": location}
    async with serving(server_context({**settings, "ssl.key.password": "key-secret"})) as port:
        assert await talks(client_context(truststore), port)
    with pytest.raises(TlsConfigError, match=re.escape("ssl.key.password: Private key could not be loaded")):
        server_context({**settings, "ssl.key.password": "wrong"})
    with pytest.raises(TlsConfigError, match=r"ssl\.key\.password: .*encrypted"):
        server_context(settings)


async def test_inline_pem_values(ca: CertificateAuthority, server_identity: Identity) -> None:
    server = server_context({"ssl.keystore.type": "PEM", "ssl.keystore.key": server_identity.key_pem(),
                             "ssl.keystore.certificate.chain": server_identity.chain_pem()})
    client = client_context({"ssl.truststore.type": "PEM", "ssl.truststore.certificates": ca.pem()})
    async with serving(server) as port, connected(client, port) as connection:
        assert connection.server_serial == server_identity.serial


async def test_inline_encrypted_key(server_identity: Identity, truststore: dict[str, str]) -> None:
    server = server_context({"ssl.keystore.type": "PEM", "ssl.key.password": "pw",
                             "ssl.keystore.key": server_identity.key_pem("pw"),
                             "ssl.keystore.certificate.chain": server_identity.chain_pem()})
    async with serving(server) as port:
        assert await talks(client_context(truststore), port)


def test_inline_key_leaves_no_file(tmp: Path, server_identity: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without memfd the key goes through a private temporary file, removed once loaded."""
    monkeypatch.delattr(os, "memfd_create", raising=False)
    scratch = tmp / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    server_context({"ssl.keystore.type": "PEM", "ssl.keystore.key": server_identity.key_pem(),
                    "ssl.keystore.certificate.chain": server_identity.chain_pem()})
    assert list(scratch.iterdir()) == []


def test_jks_is_refused(tmp: Path) -> None:
    (tmp / "server.jks").write_bytes(b"\xfe\xed\xfe\xed")
    for settings in ({"ssl.keystore.type": "JKS", "ssl.keystore.location": str(tmp / "server.jks"),
                      "ssl.keystore.password": "x"},
                     {"ssl.keystore.location": str(tmp / "server.jks"), "ssl.keystore.password": "x"}):  # default
        with pytest.raises(TlsConfigError, match=re.escape("ssl.keystore.type: JKS key stores are not "
                                                           "supported: use PEM or PKCS12")) as error:
            server_context(settings)
        assert error.value.key == "ssl.keystore.type"
    with pytest.raises(TlsConfigError, match=re.escape("ssl.truststore.type: JKS trust stores are not supported")):
        client_context({"ssl.truststore.location": str(tmp / "server.jks")})
    with pytest.raises(TlsConfigError, match=re.escape("ssl.keystore.type: BKS key stores are not supported")):
        server_context({"ssl.keystore.type": "BKS", "ssl.keystore.location": str(tmp / "server.jks")})


@pytest.mark.parametrize(("settings", "message"), [
    ({"ssl.keystore.key": "k", "ssl.keystore.certificate.chain": "c"},
     "ssl.keystore.key: SSL private key can be specified only for PEM, but key store type is JKS."),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.key": "k"},
     "ssl.keystore.certificate.chain: SSL private key is specified, but certificate chain is not specified."),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.key": "k", "ssl.keystore.certificate.chain": "c",
      "ssl.keystore.location": "/x"},
     "ssl.keystore.location: Both SSL key store location and separate private key are specified."),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.key": "k", "ssl.keystore.certificate.chain": "c",
      "ssl.keystore.password": "p"},
     "ssl.keystore.password: SSL key store password cannot be specified with PEM format"),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": "c"},
     "ssl.keystore.certificate.chain: SSL certificate chain is specified, but private key is not specified"),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.location": "/x", "ssl.keystore.password": "p"},
     "ssl.keystore.password: SSL key store password cannot be specified with PEM format"),
    ({"ssl.keystore.password": "p"},
     "ssl.keystore.password: SSL key store is not specified, but key store password is specified."),
    ({}, "ssl.keystore.location: an SSL listener needs a key store"),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.location": "/nonexistent/server.pem"},
     "ssl.keystore.location: cannot read /nonexistent/server.pem: No such file or directory"),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.key": "k", "ssl.keystore.certificate.chain": "c"},
     "ssl.keystore.key: No matching PRIVATE KEY entries in PEM file"),
])
def test_keystore_errors(settings: dict[str, str], message: str) -> None:
    with pytest.raises(TlsConfigError) as error:
        server_context(settings)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(("settings", "message"), [
    ({"ssl.truststore.certificates": "c"},
     "ssl.truststore.certificates: SSL trust store certs can be specified only for PEM, but trust store type is JKS."),
    ({"ssl.truststore.type": "PEM", "ssl.truststore.certificates": "c", "ssl.truststore.location": "/x"},
     "ssl.truststore.location: Both SSL trust store location and separate trust certificates are specified."),
    ({"ssl.truststore.type": "PEM", "ssl.truststore.certificates": "c", "ssl.truststore.password": "p"},
     "ssl.truststore.password: SSL trust store password cannot be specified for PEM format."),
    ({"ssl.truststore.password": "p"},
     "ssl.truststore.password: SSL trust store is not specified, but trust store password is specified."),
    ({"ssl.truststore.type": "PEM", "ssl.truststore.certificates": "nothing here"},
     "ssl.truststore.certificates: No matching CERTIFICATE entries in PEM file"),
])
def test_truststore_errors(settings: dict[str, str], message: str) -> None:
    with pytest.raises(TlsConfigError) as error:
        client_context(settings)
    assert str(error.value).startswith(message)


def test_key_not_matching_certificate(ca: CertificateAuthority, server_identity: Identity) -> None:
    with pytest.raises(TlsConfigError, match=re.escape("ssl.keystore.key: the private key and certificate")):
        server_context({"ssl.keystore.type": "PEM", "ssl.keystore.key": ca.server().key_pem(),
                        "ssl.keystore.certificate.chain": server_identity.chain_pem()})


async def test_expired_and_future_certificates_are_refused(tmp: Path, ca: CertificateAuthority,
                                                           truststore: dict[str, str]) -> None:
    for name, identity in (("expired", ca.server(expired=True)), ("future", ca.server(not_yet_valid=True))):
        server = server_context({"ssl.keystore.type": "PEM",
                                 "ssl.keystore.location": str(identity.write_pem(tmp / f"{name}.pem"))})
        async with serving(server) as port:
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection("127.0.0.1", port, ssl=client_context(truststore),
                                              server_hostname="localhost")


# --- host name verification ----------------------------------------------------------------------------

async def test_hostname_verification(server_keystore: dict[str, str], truststore: dict[str, str]) -> None:
    checking = client_context(truststore)
    assert checking.check_hostname
    not_checking = client_context({**truststore, "ssl.endpoint.identification.algorithm": ""})
    assert not not_checking.check_hostname and not_checking.verify_mode == ssl.CERT_REQUIRED
    async with serving(server_context(server_keystore)) as port:
        assert await talks(checking, port, "localhost")
        assert await talks(checking, port, "127.0.0.1")  # IP address SAN
        with pytest.raises(ssl.SSLCertVerificationError, match=re.escape("Hostname mismatch")):
            await asyncio.open_connection("127.0.0.1", port, ssl=checking, server_hostname="broker.example.com")
        assert await talks(not_checking, port, "broker.example.com")


def test_endpoint_identification_algorithm_values(truststore: dict[str, str]) -> None:
    assert client_context({**truststore, "ssl.endpoint.identification.algorithm": "HTTPS"}).check_hostname
    message = "ssl.endpoint.identification.algorithm: ldaps is not supported"
    with pytest.raises(TlsConfigError, match=re.escape(message)):
        client_context({**truststore, "ssl.endpoint.identification.algorithm": "ldaps"})


# --- rotation ------------------------------------------------------------------------------------------

async def test_rotation_of_the_keystore(tmp: Path, ca: CertificateAuthority, server_identity: Identity,
                                        truststore: dict[str, str]) -> None:
    settings = {"ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(server_identity.write_pem(tmp / "server.pem"))}
    context = server_context(settings)
    reloader = TlsReloader(context, settings)
    assert reloader.files == (settings["ssl.keystore.location"],)
    assert not reloader.reload_if_changed()
    client = client_context(truststore)
    async with serving(context) as port, connected(client, port) as old:
        assert old.server_serial == server_identity.serial
        renewed = ca.server()
        renewed.write_pem(tmp / "server.pem.new")
        os.replace(tmp / "server.pem.new", tmp / "server.pem")
        assert reloader.reload_if_changed()
        assert not reloader.reload_if_changed()
        async with connected(client, port) as new:
            assert new.server_serial == renewed.serial
            assert await new.echo("new") == "new"
        assert await old.echo("old") == "old"  # the established connection keeps its session
        assert old.server_serial == server_identity.serial


async def test_rotation_to_a_broken_keystore_keeps_the_context(tmp: Path, ca: CertificateAuthority,
                                                               server_identity: Identity,
                                                               truststore: dict[str, str]) -> None:
    location = server_identity.write_pem(tmp / "server.pem")
    settings = {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(location)}
    context = server_context(settings)
    reloader = TlsReloader(context, settings)
    other = ca.server()
    location.write_text(other.chain_pem() + server_identity.key_pem())  # the key of another certificate
    with pytest.raises(TlsConfigError, match=re.escape("ssl.keystore.location: the private key and certificate")):
        reloader.reload_if_changed()
    assert not reloader.reload_if_changed()  # the same content is not tried again
    async with serving(context) as port, connected(client_context(truststore), port) as connection:
        assert connection.server_serial == server_identity.serial
    location.unlink()  # being replaced: unchanged until it is back
    assert not reloader.reload_if_changed()
    other.write_pem(location)
    assert reloader.reload_if_changed()


async def test_rotation_of_the_truststore(tmp: Path, ca: CertificateAuthority, server_keystore: dict[str, str],
                                          truststore: dict[str, str]) -> None:
    other_ca = CertificateAuthority(subject="CN=other CA")
    other_server = other_ca.server().write_pem(tmp / "other.pem")
    client = client_context(truststore)
    reloader = TlsReloader(client, truststore)
    async with serving(server_context({"ssl.keystore.type": "PEM",
                                       "ssl.keystore.location": str(other_server)})) as port:
        assert not await talks(client, port)
        Path(truststore["ssl.truststore.location"]).write_text(ca.pem() + other_ca.pem())
        assert reloader.reload_if_changed()
        assert await talks(client, port)


def test_inline_stores_are_not_watched(ca: CertificateAuthority, server_identity: Identity) -> None:
    settings = {"ssl.keystore.type": "PEM", "ssl.keystore.key": server_identity.key_pem(),
                "ssl.keystore.certificate.chain": server_identity.chain_pem(),
                "ssl.truststore.type": "PEM", "ssl.truststore.certificates": ca.pem()}
    reloader = TlsReloader(server_context(settings), settings)
    assert reloader.files == ()
    assert not reloader.reload_if_changed()

