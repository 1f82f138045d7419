"""The principal of a TLS client: its certificate's subject as Java prints it, mapped by Kafka's
``ssl.principal.mapping.rules``. Expected values were checked against Java 17's ``X500Principal.getName()``
and Kafka 3.9's ``SslPrincipalMapper``; the rule cases follow Kafka's ``SslPrincipalMapperTest`` and
``DefaultKafkaPrincipalBuilderTest``."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier
from tests.certs import CertificateAuthority

from kafka_broker.config import ConfigError
from kafka_broker.security.principal import ANONYMOUS, KafkaPrincipal
from kafka_broker.security.ssl_principal import (
    NoMatchingRule,
    SslPrincipalMapper,
    distinguished_name,
    ssl_principal,
)
from kafka_broker.security.tls import client_context, server_context

A = x509.NameAttribute
RDN = x509.RelativeDistinguishedName


# --- the distinguished name ----------------------------------------------------------------------------

@pytest.mark.parametrize(("subject", "expected"), [
    ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "CN=Duke,OU=ServiceUsers,O=Org,C=US"),
    ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"),
    ("CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz", "CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz"),
    # Java names only RFC 2253's attributes; others are OID=#hex of the DER value
    (x509.Name([A(NameOID.COUNTRY_NAME, "US"), A(NameOID.EMAIL_ADDRESS, "alice@example.com"),
                A(NameOID.COMMON_NAME, "alice")]),
     "CN=alice,1.2.840.113549.1.9.1=#1611616c696365406578616d706c652e636f6d,C=US"),
    (x509.Name([A(NameOID.SERIAL_NUMBER, "1234"), A(NameOID.TITLE, "boss"), A(NameOID.STREET_ADDRESS, "Main St 1"),
                A(NameOID.COMMON_NAME, "x")]),
     "CN=x,STREET=Main St 1,2.5.4.12=#0c04626f7373,2.5.4.5=#130431323334"),
    (x509.Name([A(ObjectIdentifier("1.3.6.1.4.1.99999.1"), "custom"), A(NameOID.COMMON_NAME, "   ")]),
     "CN=\\ \\ \\ ,1.3.6.1.4.1.99999.1=#0c06637573746f6d"),
    (x509.Name([A(NameOID.COMMON_NAME, "a\rb\r"), A(NameOID.GIVEN_NAME, "Al"), A(NameOID.SURNAME, "Ice")]),
     "2.5.4.4=#0c03496365,2.5.4.42=#0c02416c,CN=a\rb\\\r"),
    # Java escapes = and # anywhere, and leading/trailing spaces
    (x509.Name([A(NameOID.COMMON_NAME, " lead and trail "), A(NameOID.ORGANIZATION_NAME, 'a=b+c<d>e#f;g"h\\i')]),
     'O=a\\=b\\+c\\<d\\>e\\#f\\;g\\"h\\\\i,CN=\\ lead and trail\\ '),
    (x509.Name([A(NameOID.COMMON_NAME, "#hash"), A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Zürich ünï 日本")]),
     "OU=Zürich ünï 日本,CN=\\#hash"),
    # a multi-valued RDN keeps its encoded order
    (x509.Name([RDN([A(NameOID.COMMON_NAME, "multi"), A(NameOID.USER_ID, "u1")]),
                RDN([A(NameOID.DOMAIN_COMPONENT, "example")])]),
     "DC=example,CN=multi+UID=u1"),
    # the bytes of any string type are read as UTF-8, as Java does (a BMPString shows its NULs)
    (x509.Name([A(NameOID.COMMON_NAME, "bmp", _type=_ASN1Type.BMPString),
                A(NameOID.ORGANIZATION_NAME, "t61", _type=_ASN1Type.T61String),
                A(NameOID.LOCALITY_NAME, "ia5", _type=_ASN1Type.IA5String)]),
     "L=ia5,O=t61,CN=\\00b\\00m\\00p"),
])
def test_distinguished_name_as_java_prints_it(subject: str | x509.Name, expected: str) -> None:
    name = subject if isinstance(subject, x509.Name) else x509.Name.from_rfc4514_string(subject)
    certificate = CertificateAuthority().client(name).certificate
    assert distinguished_name(certificate.subject) == expected


# --- the rules -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rules", [
    "DEFAULT",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
    "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
    "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
    "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
])
def test_valid_rules(rules: str) -> None:
    SslPrincipalMapper.from_rules(rules)


@pytest.mark.parametrize(("rules", "message"), [
    ("default", "Invalid rule: `default`, unmatched substring: `default`"),
    ("DEFAUL", "Invalid rule: `DEFAUL`, unmatched substring: `DEFAUL`"),
    ("DEFAULT/L", "Invalid rule: `DEFAULT/L`, unmatched substring: `/L`"),
    ("DEFAULT/U", "Invalid rule: `DEFAULT/U`, unmatched substring: `/U`"),
    ("RULE:CN=(.*?),OU=ServiceUsers.*/$1", "Invalid rule: `RULE:CN=(.*?)`, unmatched substring: `RULE:CN=(.*?)`"),
    ("rule:^CN=(.*?),OU=ServiceUsers.*$/$1/", "Invalid rule: `rule:^CN=(.*?)`, unmatched substring: `rule:^CN=(.*?)`"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
     "Invalid rule: `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U`, unmatched substring: `/U`"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/L", "Invalid rule: `RULE:^CN=(.*?)`, unmatched substring: `RULE:^CN=(.*?)`"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/U", "Invalid rule: `RULE:^CN=(.*?)`, unmatched substring: `RULE:^CN=(.*?)`"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/LU", "Invalid rule: `RULE:^CN=(.*?)`, unmatched substring: `RULE:^CN=(.*?)`"),
    ("RULE:^CN=(.*/$1/", "Invalid rule pattern `^CN=(.*`: missing ), unterminated subpattern"),
])
def test_invalid_rules(rules: str, message: str) -> None:
    """Kafka's SslPrincipalMapperTest.testInvalidRules, with Kafka's messages."""
    with pytest.raises(ConfigError) as error:
        SslPrincipalMapper.from_rules(rules)
    assert str(error.value).startswith(f"ssl.principal.mapping.rules: {message}")


def test_kafka_mapper_cases() -> None:
    mapper = SslPrincipalMapper.from_rules(", ".join([
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
        "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
        "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
        "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
        "DEFAULT",
    ]))
    assert mapper.name("CN=Duke,OU=ServiceUsers,O=Org,C=US") == "duke"
    assert mapper.name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US") == "duke@sme"
    assert mapper.name("cn=duke,ou=sme,dc=mycp,dc=com") == "DUKE@SME"
    assert mapper.name("cN=duke,OU=JavaSoft,O=Sun Microsystems") == "DUKE"
    assert mapper.name("OU=JavaSoft,O=Sun Microsystems,C=US") == "OU=JavaSoft,O=Sun Microsystems,C=US"


@pytest.mark.parametrize(("expected", "rules"), [
    ("[]", ""),
    ("[DEFAULT]", "DEFAULT"),
    ("[RULE:/]", "RULE://"),
    ("[RULE:/.*]", "RULE:/.*/"),
    ("[RULE:/.*/L]", "RULE:/.*/L"),
    ("[RULE:/, DEFAULT]", "RULE://,DEFAULT"),
    ("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "),
    ("[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "),
    ("[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "),
    ("[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]", "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "),
    # empty rules are ignored
    ("[]", ",   , , ,      , , ,   "),
    ("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"),
    ("[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "),
    ("[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"),
    # escape sequences
    (r"[RULE:\/\\\(\)\n\t/\/\/]", r"RULE:\/\\\(\)\n\t/\/\//"),
    (r"[RULE:\**\/+/*/L, RULE:\/*\**/**]", r"RULE:\**\/+/*/L,RULE:\/*\**/**/"),
    # rules rule
    (r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
     r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT"),
])
def test_rules_splitting(expected: str, rules: str) -> None:
    assert str(SslPrincipalMapper.from_rules(rules)) == f"SslPrincipalMapper(rules = {expected})"


def test_comma_with_whitespace() -> None:
    mapper = SslPrincipalMapper.from_rules(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT")
    assert mapper.name("CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz") == "Tkac\\, Adam"


@pytest.mark.parametrize(("rule", "name", "expected"), [
    # a $n past the pattern's groups is text (Kafka's escapeLiteralBackReferences), $nn shortened as in Java
    (r"RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1-$4-$2/", "CN=a,OU=b,O=c", "a-$4-b"),
    (r"RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1-$12-$30/", "CN=a,OU=b,O=c", "a-a2-c0"),
    (r"RULE:^CN=([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])([a-z])$/$12$11$1/",
     "CN=abcdefghijkl", "lka"),
    # every match is replaced (String.replaceAll), an unmatched group is empty
    ("RULE:.*/x/", "CN=a", "xx"),
    ("RULE:(a*)/[$1]/", "aaa", "[aaa][]"),
    ("RULE:^CN=([^,]*)(,O=(.*))?$/$1:$3/", "CN=solo", "solo:"),
    ("RULE:^CN=(.*)$/$0$1/", "CN=zero", "CN=zerozero"),
    (r"RULE:^CN=(.*)$/a\/b/", "CN=slash", "a/b"),
    (r"RULE:^CN=\\ (.*)$/$1/", "CN=\\ x", "x"),
    # Java's named groups and inline flags
    ("RULE:^CN=(?<who>[^,]*),.*$/${who}!/U", "CN=named,O=x", "NAMED!"),
    ("RULE:^(?i)cn=([a-z]+)$/$1/", "CN=Bob", "Bob"),
])
def test_replacement_as_java(rule: str, name: str, expected: str) -> None:
    assert SslPrincipalMapper.from_rules(rule).name(name) == expected


def test_no_matching_rule() -> None:
    with pytest.raises(NoMatchingRule, match=r"No rules apply to CN=alice, rules \[RULE:CN=admin/nope\]"):
        SslPrincipalMapper.from_rules("RULE:CN=admin/nope/").name("CN=alice")
    with pytest.raises(NoMatchingRule):  # \w is ASCII, as in Java
        SslPrincipalMapper.from_rules(r"RULE:^CN=(\w+)$/$1/").name("CN=Zürich")
    with pytest.raises(NoMatchingRule, match=r"rules \[\]"):
        SslPrincipalMapper.from_rules("").name("CN=alice")


def test_bad_group_references_fail_the_mapping() -> None:
    with pytest.raises(ValueError, match="No group 5"):
        SslPrincipalMapper.from_rules("RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$4$5/").name("CN=a,OU=b,O=c")
    with pytest.raises(ValueError, match="Illegal group reference"):
        SslPrincipalMapper.from_rules(r"RULE:^CN=(.*?)$/\$1 costs $$3/").name("CN=a")
    with pytest.raises(ValueError, match="No group 1"):
        SslPrincipalMapper.from_rules("RULE:^.*$/$1/").name("CN=nogroups")


def test_default_rules() -> None:
    assert SslPrincipalMapper.from_rules(None).name("CN=alice,O=acme") == "CN=alice,O=acme"


# --- the principal of a connection ---------------------------------------------------------------------

async def principal_over_tls(tmp: Path, ca: CertificateAuthority, mapper: SslPrincipalMapper,
                             client_subject: str | None) -> KafkaPrincipal:
    """Connects over loopback (with a client certificate for ``client_subject``, or none) and returns the
    principal the server side sees."""
    truststore = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.write_pem(tmp / "ca.pem"))}
    server = server_context({**truststore, "ssl.client.auth": "requested", "ssl.keystore.type": "PEM",
                             "ssl.keystore.location": str(ca.server().write_pem(tmp / "server.pem"))})
    client_settings = dict(truststore)
    if client_subject is not None:
        client_settings |= {"ssl.keystore.type": "PEM",
                            "ssl.keystore.location": str(ca.client(client_subject).write_pem(tmp / "client.pem"))}
    seen: asyncio.Future[KafkaPrincipal] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        seen.set_result(ssl_principal(ssl_object, mapper))
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server)
    try:
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(client_settings),
                                                       server_hostname="localhost")
        principal = await asyncio.wait_for(seen, 10)
        writer.close()
        await reader.read()
        return principal
    finally:
        listener.close()
        await listener.wait_closed()


@pytest.mark.parametrize(("subject", "expected"), [
    ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke"),
    ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme"),
    ("CN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE"),
    ("OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US"),
])
async def test_principal_of_a_client_certificate(tmp: Path, subject: str, expected: str) -> None:
    """Kafka's DefaultKafkaPrincipalBuilderTest, over a real handshake."""
    mapper = SslPrincipalMapper.from_rules(", ".join([
        "RULE:^CN=(.*),OU=ServiceUsers.*$/$1/L",
        "RULE:^CN=(.*),OU=(.*),O=(.*),L=(.*),ST=(.*),C=(.*)$/$1@$2/L",
        "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
        "DEFAULT",
    ]))
    assert await principal_over_tls(tmp, CertificateAuthority(), mapper, subject) == KafkaPrincipal.user(expected)


async def test_principal_without_a_client_certificate(tmp: Path) -> None:
    mapper = SslPrincipalMapper.from_rules("DEFAULT")
    assert await principal_over_tls(tmp, CertificateAuthority(), mapper, None) == ANONYMOUS


async def test_principal_with_default_rules_is_the_full_name(tmp: Path) -> None:
    mapper = SslPrincipalMapper.from_rules("DEFAULT")
    principal = await principal_over_tls(tmp, CertificateAuthority(), mapper, "CN=alice,OU=eng,O=acme,C=US")
    assert str(principal) == "User:CN=alice,OU=eng,O=acme,C=US"
