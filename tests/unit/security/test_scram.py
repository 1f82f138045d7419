"""SASL/SCRAM: full exchanges between our server and independent clients (kafka-python's and aiokafka's SCRAM
clients, RFC 7677's example), our client against our server, and every way an exchange must fail — always a
SaslAuthenticationError, with Kafka's client message (an unknown user and a wrong password are told the same).

The outcomes for the gs2 headers ``y``/``p=``, ``a=``, an unknown user and ``tokenauth=true`` are the ones Kafka
3.9.2's ``ScramSaslServer`` gives (checked by driving it from Python over a small Java bridge)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac

import pytest
from aiokafka.conn import ScramAuthenticator
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.net.sasl.scram import ScramClient as KafkaPythonScramClient

from kafka_broker.security import sasl, scram
from kafka_broker.security.sasl import SaslAuthenticationError
from kafka_broker.security.scram import (
    BY_NAME,
    BY_TYPE,
    MAX_CLIENT_MESSAGE,
    MECHANISMS,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramClient,
    ScramCredential,
    ScramMechanism,
    ScramServer,
)

SALT = b"0123456789abcdef"
USERS = {"alice": "alice-secret", "a,b=c": "pässwörd", "bob": "bob-secret"}


def failed(mechanism: ScramMechanism) -> str:
    return f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"


def kafka_hi(mechanism: ScramMechanism, password: str, salt: bytes, iterations: int) -> bytes:
    """``Hi()`` written out as Kafka's ``ScramFormatter.hi`` computes it: U1 = HMAC(pw, salt || 1), Ui = HMAC(pw,
    Ui-1), their XOR."""
    key = password.encode()
    u = hmac.new(key, salt + b"\0\0\0\1", mechanism.hash_name).digest()
    result = u
    for _ in range(iterations - 1):
        u = hmac.new(key, u, mechanism.hash_name).digest()
        result = bytes(a ^ b for a, b in zip(result, u, strict=True))
    return result


def kafka_credential(mechanism: ScramMechanism, password: str, *, salt: bytes = SALT,
                     iterations: int = 4096) -> ScramCredential:
    """Kafka's ``ScramFormatter.generateCredential``, from hashlib/hmac alone."""
    salted = kafka_hi(mechanism, password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", mechanism.hash_name).digest()
    return ScramCredential(salt, hashlib.new(mechanism.hash_name, client_key).digest(),
                           hmac.new(salted, b"Server Key", mechanism.hash_name).digest(), iterations)


CREDENTIALS = {(m.name, user): kafka_credential(m, password) for m in MECHANISMS for user, password in USERS.items()}


def server(mechanism: ScramMechanism, **kwargs: object) -> ScramServer:
    return ScramServer(mechanism, lambda user: CREDENTIALS.get((mechanism.name, user)), **kwargs)  # type: ignore[arg-type]


def client_final(mechanism: ScramMechanism, password: str, *, bare: str, server_first: bytes,
                 channel: str = "biws", nonce: str | None = None) -> bytes:
    """A client-final message computed independently (RFC 5802 §3), for exchanges no client library sends."""
    fields = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    salted = kafka_hi(mechanism, password, base64.b64decode(fields["s"]), int(fields["i"]))
    without_proof = f"c={channel},r={fields['r'] if nonce is None else nonce}"
    auth_message = f"{bare},{server_first.decode()},{without_proof}".encode()
    client_key = hmac.new(salted, b"Client Key", mechanism.hash_name).digest()
    signature = hmac.new(hashlib.new(mechanism.hash_name, client_key).digest(), auth_message,
                         mechanism.hash_name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


# --- credentials -----------------------------------------------------------------------------------------------

# as Kafka 3.9 stored them in /config/users/alice (kafka-configs --add-config 'SCRAM-SHA-512=[iterations=8192,...')
KAFKA_SHA_512 = ("salt=bGk2bmt2cjB0bmpudDh4NzM3aDd5aWs3Ng==,stored_key=0XA3qsO7NbA3o71kwgFCXDUDFSRGv0nT3iJksBiiqJr4AM4b"
                 "lw6GK0+0kCM9RgHNXnINoGRl7To0rYAME2ONwQ==,server_key=3WA/PX+EiH/psBZn/Ab3fNR1WJ234bQUIq+EKz4wQVt152Xn"
                 "p14sqI33TAWtJ0G6Sb1NVyVIKElV3UjC+PvV0A==,iterations=8192")


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=str)
def test_salted_password_is_kafkas_hi(mechanism: ScramMechanism) -> None:
    ours = scram.salted_password(mechanism, "pässwörd", SALT, 4096)
    assert ours == kafka_hi(mechanism, "pässwörd", SALT, 4096)
    assert scram.credential(mechanism, salt=SALT, salted=ours, iterations=4096) == kafka_credential(mechanism,
                                                                                                      "pässwörd")


def test_credential_kafka_stored_authenticates_its_password() -> None:
    stored = ScramCredential.decode(KAFKA_SHA_512)
    srv = ScramServer(SCRAM_SHA_512, {"alice": stored}.get)
    kp = KafkaPythonScramClient("alice", "alice-secret", "SCRAM-SHA-512")
    kp.process_server_first_message(srv.evaluate(kp.first_message()))
    kp.process_server_final_message(srv.evaluate(kp.final_message()))
    assert srv.complete and srv.authorization_id == "alice"


def test_mechanisms_as_kafka_names_and_numbers_them() -> None:
    assert BY_TYPE == {1: SCRAM_SHA_256, 2: SCRAM_SHA_512}
    assert BY_NAME == {"SCRAM-SHA-256": SCRAM_SHA_256, "SCRAM-SHA-512": SCRAM_SHA_512}
    assert sasl.SUPPORTED_MECHANISMS == ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    assert {m.name for m in MECHANISMS} < set(sasl.SUPPORTED_MECHANISMS)
    assert {m.min_iterations for m in MECHANISMS} == {4096}
    assert ScramServer("SCRAM-SHA-256", CREDENTIALS.get).mechanism == "SCRAM-SHA-256"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'PLAIN' is not supported"):
        ScramServer("PLAIN", CREDENTIALS.get)  # type: ignore[arg-type]


@pytest.mark.parametrize(("username", "name"), [
    ("alice", "alice"), ("a,b", "a=2Cb"), ("a=b", "a=3Db"), ("=,", "=3D=2C"), ("=2C", "=3D2C"),
])
def test_saslname_escaping(username: str, name: str) -> None:
    assert scram.sasl_name(username) == name
    assert scram.username_from_sasl_name(name) == username


@pytest.mark.parametrize("name", ["a=b", "a=2", "=", "a=3d", "a=2c"])
def test_a_bad_saslname_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid username"):
        scram.username_from_sasl_name(name)


# --- exchanges that succeed ------------------------------------------------------------------------------------

def test_rfc_7677_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7677 §3: user "user", password "pencil" — our server's and our client's messages byte for byte."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored = kafka_credential(SCRAM_SHA_256, "pencil", salt=salt)
    server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
             b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    monkeypatch.setattr(scram, "_nonce", lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    srv = ScramServer(SCRAM_SHA_256, {"user": stored}.get)
    assert srv.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == server_first
    assert srv.evaluate(final) == server_final
    assert srv.complete and srv.authorization_id == "user"

    monkeypatch.setattr(scram, "_nonce", lambda: "rOprNGfwEbeRWgbNEkqO")
    cli = ScramClient(SCRAM_SHA_256, username="user", password="pencil")
    assert cli.first_message() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert cli.evaluate(server_first) == final
    assert not cli.complete
    assert cli.evaluate(server_final) == b""
    assert cli.complete


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=str)
def test_kafka_python_client(mechanism: ScramMechanism) -> None:
    srv = server(mechanism)
    kp = KafkaPythonScramClient("alice", "alice-secret", mechanism.name)
    kp.process_server_first_message(srv.evaluate(kp.first_message()))
    assert not srv.complete
    kp.process_server_final_message(srv.evaluate(kp.final_message()))  # raises if our signature is wrong
    assert srv.complete and srv.authorization_id == "alice"


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=str)
@pytest.mark.parametrize("user", ["alice", "a,b=c"])
def test_aiokafka_client(mechanism: ScramMechanism, user: str) -> None:
    """aiokafka escapes the user name as a saslname (kafka-python does not)."""
    srv = server(mechanism)
    auth = ScramAuthenticator(loop=None, sasl_plain_username=user, sasl_plain_password=USERS[user],
                              sasl_mechanism=mechanism.name)
    steps = auth._authenticator
    client_first, _ = next(steps)
    client_final_, _ = steps.send(srv.evaluate(client_first))
    with pytest.raises(StopIteration):  # aiokafka's automaton ends once it has checked our signature
        steps.send(srv.evaluate(client_final_))
    assert srv.authorization_id == user


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=str)
@pytest.mark.parametrize("user", ["alice", "a,b=c"])
def test_our_client_against_our_server(mechanism: ScramMechanism, user: str) -> None:
    srv = server(mechanism)
    cli = ScramClient(mechanism, username=user, password=USERS[user], extensions={"foo": "bar"})
    first = cli.first_message()
    assert first.startswith(b"n,,n=" + scram.sasl_name(user).encode() + b",r=") and first.endswith(b",foo=bar")
    assert cli.evaluate(srv.evaluate(cli.evaluate(srv.evaluate(first)))) == b""
    assert cli.complete and srv.complete and srv.authorization_id == user
    assert srv.extensions == {"foo": "bar"}


@pytest.mark.parametrize("header", ["n,a=alice,", "n,,"])
def test_authorization_id_equal_to_the_user(header: str) -> None:
    srv = server(SCRAM_SHA_256)
    bare = "n=alice,r=abc"
    server_first = srv.evaluate(f"{header}{bare}".encode())
    channel = base64.b64encode(header.encode()).decode()
    srv.evaluate(client_final(SCRAM_SHA_256, "alice-secret", bare=bare, server_first=server_first, channel=channel))
    assert srv.authorization_id == "alice"


def test_reserved_and_unknown_extensions_are_accepted() -> None:
    """Kafka's grammar allows ``m=`` and any extension; both are part of AuthMessage."""
    srv = server(SCRAM_SHA_512)
    bare = "m=x,n=alice,r=abc,foo=bar,baz=1"
    server_first = srv.evaluate(f"n,,{bare}".encode())
    assert server_first.startswith(b"r=abc")
    srv.evaluate(client_final(SCRAM_SHA_512, "alice-secret", bare=bare, server_first=server_first))
    assert srv.complete and srv.extensions == {"foo": "bar", "baz": "1"}


def test_each_exchange_has_a_fresh_server_nonce() -> None:
    nonces = {server(SCRAM_SHA_256).evaluate(b"n,,n=alice,r=abc").split(b",")[0] for _ in range(20)}
    assert len(nonces) == 20
    assert all(n.startswith(b"r=abc") and len(n) >= len(b"r=abc") + 20 for n in nonces)


# --- exchanges that fail ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", MECHANISMS, ids=str)
def test_wrong_password_and_unknown_user_look_the_same(mechanism: ScramMechanism) -> None:
    """Kafka looks the user up at client-first, so an unknown user fails there; a wrong password at
    client-final. The client reads the same message either way."""
    srv = server(mechanism)
    kp = KafkaPythonScramClient("alice", "wrong", mechanism.name)
    kp.process_server_first_message(srv.evaluate(kp.first_message()))
    with pytest.raises(SaslAuthenticationError) as wrong:
        srv.evaluate(kp.final_message())
    assert wrong.value.detail == "Invalid client credentials"

    with pytest.raises(SaslAuthenticationError) as unknown:
        server(mechanism).evaluate(KafkaPythonScramClient("mallory", "x", mechanism.name).first_message())
    assert unknown.value.detail == "Authentication failed: Invalid user credentials"
    assert str(wrong.value) == str(unknown.value) == wrong.value.message == failed(mechanism)


def test_reauthentication_words_the_failure_so() -> None:
    with pytest.raises(SaslAuthenticationError) as exc:
        server(SCRAM_SHA_256, reauthenticating=True).evaluate(b"n,,n=mallory,r=abc")
    assert exc.value.message == ("Authentication failed during re-authentication due to invalid credentials with "
                                 "SASL mechanism SCRAM-SHA-256")


def test_authorization_id_other_than_the_user() -> None:
    with pytest.raises(SaslAuthenticationError) as exc:
        server(SCRAM_SHA_256).evaluate(b"n,a=bob,n=alice,r=abc")
    assert exc.value.message == ("Authentication failed: Client requested an authorization id that is different "
                                 "from username")


@pytest.mark.parametrize(("message", "detail"), [
    (b"y,,n=alice,r=abc", "Invalid SCRAM client first message format: y,,n=alice,r=abc"),
    (b"p=tls-unique,,n=alice,r=abc", "Invalid SCRAM client first message format: p=tls-unique,,n=alice,r=abc"),
    (b"n,,n=alice,r=abc,tokenauth=true", "Token Authentication failed: Invalid tokenId : alice"),
    (b"n,,n=alice,r=abc,tokenauth=TRUE", "Token Authentication failed: Invalid tokenId : alice"),
])
def test_channel_binding_and_delegation_tokens_are_refused(message: bytes, detail: str) -> None:
    with pytest.raises(SaslAuthenticationError) as exc:
        server(SCRAM_SHA_256).evaluate(message)
    assert (exc.value.message, exc.value.detail) == (failed(SCRAM_SHA_256), detail)


def test_tokenauth_false_is_a_password_login() -> None:
    assert server(SCRAM_SHA_256).evaluate(b"n,,n=alice,r=abc,tokenauth=false").startswith(b"r=abc")


@pytest.mark.parametrize(("header", "channel"), [
    ("n,,", base64.b64encode(b"y,,").decode()),
    ("n,,", base64.b64encode(b"n,a=alice,").decode()),
    ("n,,", ""),
    ("n,a=alice,", "biws"),
])
def test_channel_binding_must_repeat_the_gs2_header(header: str, channel: str) -> None:
    srv = server(SCRAM_SHA_256)
    server_first = srv.evaluate(f"{header}n=alice,r=abc".encode())
    with pytest.raises(SaslAuthenticationError, match=f"^{failed(SCRAM_SHA_256)}$") as exc:
        srv.evaluate(client_final(SCRAM_SHA_256, "alice-secret", bare="n=alice,r=abc", server_first=server_first,
                                  channel=channel))
    assert exc.value.detail == "Invalid channel binding in the final client message."


@pytest.mark.parametrize("tamper", [
    lambda n: n + "x", lambda n: n[:-1], lambda n: n[:5], lambda n: n[:-1] + "?",
])
def test_tampered_nonce(tamper) -> None:
    srv = server(SCRAM_SHA_256)
    server_first = srv.evaluate(b"n,,n=alice,r=abc")
    nonce = server_first.decode().split(",")[0][2:]
    with pytest.raises(SaslAuthenticationError) as exc:
        srv.evaluate(client_final(SCRAM_SHA_256, "alice-secret", bare="n=alice,r=abc", server_first=server_first,
                                  nonce=tamper(nonce)))
    assert exc.value.detail.startswith("Invalid client nonce in the final client message")


def test_a_nonce_ending_with_the_servers_is_accepted_as_kafka_does() -> None:
    """librdkafka 2.0 (Debian's kcat) sends its own nonce before the combined one; Kafka checks the ending only.
    The proof still signs the message as sent."""
    srv = server(SCRAM_SHA_256)
    server_first = srv.evaluate(b"n,,n=alice,r=abc")
    nonce = server_first.decode().split(",")[0][2:]
    srv.evaluate(client_final(SCRAM_SHA_256, "alice-secret", bare="n=alice,r=abc", server_first=server_first,
                              nonce="abc" + nonce))
    assert srv.complete and srv.authorization_id == "alice"


def test_proof_over_another_client_first_fails() -> None:
    """The proof signs AuthMessage: a client-final computed for other client-first bytes is refused."""
    srv = server(SCRAM_SHA_256)
    server_first = srv.evaluate(b"n,,n=alice,r=abc")
    with pytest.raises(SaslAuthenticationError) as exc:
        srv.evaluate(client_final(SCRAM_SHA_256, "alice-secret", bare="n=alice,r=abd", server_first=server_first))
    assert exc.value.detail == "Invalid client credentials"


def test_credential_below_the_minimum_iterations() -> None:
    weak = kafka_credential(SCRAM_SHA_256, "x", iterations=4095)
    with pytest.raises(SaslAuthenticationError) as exc:
        ScramServer(SCRAM_SHA_256, {"alice": weak}.get).evaluate(b"n,,n=alice,r=abc")
    assert exc.value.detail == "Iterations 4095 is less than the minimum 4096 for SCRAM-SHA-256"


def test_a_failing_credential_store() -> None:
    def lookup(user: str) -> ScramCredential | None:
        raise ConnectionError("zookeeper went away")

    with pytest.raises(SaslAuthenticationError) as exc:
        ScramServer(SCRAM_SHA_256, lookup).evaluate(b"n,,n=alice,r=abc")
    assert (exc.value.message, exc.value.detail) == (
        failed(SCRAM_SHA_256), "Authentication failed: Credentials could not be obtained")
    assert isinstance(exc.value.__cause__, ConnectionError)


@pytest.mark.parametrize("message", [
    b"", b"n,,", b"n,,n=alice", b"n,,r=abc,n=alice", b"n,,n=,r=abc", b"n,,n=alice,r=", b"n,,n=ali=ce,r=abc",
    b"n,,n=alice,r=a,b", b"n,,n=alice,r=abc,", b"n,,n=alice,r=abc,1x=y", b"n,,n=alice,r=abc,x=", b"n,,n=alice,r=ab c",
    b"n,,n=al\xc3\xa9ce,r=abc", b"n,,n=alice,r=abc\xff", b"n,,n=al\x00ce,r=abc", b"N,,n=alice,r=abc",
    b"n,a=,n=alice,r=abc", b"n,a=x=y,n=alice,r=abc", b" n,,n=alice,r=abc", b"n,,n=alice,r=abc\n",
])
def test_malformed_client_first(message: bytes) -> None:
    with pytest.raises(SaslAuthenticationError) as exc:
        server(SCRAM_SHA_512).evaluate(message)
    assert exc.value.message == failed(SCRAM_SHA_512)
    assert exc.value.detail is not None and exc.value.detail.startswith("Invalid SCRAM client first message format")


@pytest.mark.parametrize("message", [
    b"", b"c=biws", b"c=biws,r=NONCE", b"c=biws,r=NONCE,p=", b"c=biws,r=NONCE,p=abc", b"c=biws,r=NONCE,p=!!!!",
    b"c=bi,r=NONCE,p=AAAA", b"r=NONCE,c=biws,p=AAAA", b"c=biws,p=AAAA,r=NONCE", b"c=biws,r=NONCE,p=AAAA,x=y",
    b"c=biws,r=NONCE,p=AAAA\xff", b"c=biws,r=NONCE,1=2,p=AAAA",
])
def test_malformed_client_final(message: bytes) -> None:
    srv = server(SCRAM_SHA_512)
    nonce = srv.evaluate(b"n,,n=alice,r=abc").decode().split(",")[0][2:]
    with pytest.raises(SaslAuthenticationError, match=f"^{failed(SCRAM_SHA_512)}$"):
        srv.evaluate(message.replace(b"NONCE", nonce.encode()))


def test_a_wrong_length_proof_fails_as_a_wrong_password() -> None:
    srv = server(SCRAM_SHA_512)
    nonce = srv.evaluate(b"n,,n=alice,r=abc").decode().split(",")[0][2:]
    with pytest.raises(SaslAuthenticationError) as exc:
        srv.evaluate(f"c=biws,r={nonce},p=AAAA".encode())
    assert exc.value.detail == "Invalid client credentials"


def test_a_message_over_the_longest_parsed_fails_unread() -> None:
    """A saslname, nonce or base64 as long as a frame allows would cost the regular expressions over 100 MiB."""
    longest = b"n,,n=alice,r=" + b"x" * (MAX_CLIENT_MESSAGE - 13)
    srv = server(SCRAM_SHA_256)
    nonce = srv.evaluate(longest).decode().split(",")[0][2:]
    final = f"c=biws,r={nonce},p=".encode() + b"A" * MAX_CLIENT_MESSAGE
    with pytest.raises(SaslAuthenticationError) as exc:
        srv.evaluate(final)
    assert exc.value.message == failed(SCRAM_SHA_256)
    assert exc.value.detail == f"SCRAM message of {len(final)} bytes, over {MAX_CLIENT_MESSAGE}"
    for huge in (longest + b"x", b"n,,n=" + b"a" * 500_000 + b",r=abc"):
        with pytest.raises(SaslAuthenticationError) as exc:
            server(SCRAM_SHA_256).evaluate(huge)
        assert exc.value.message == failed(SCRAM_SHA_256)
        assert exc.value.detail == f"SCRAM message of {len(huge)} bytes, over {MAX_CLIENT_MESSAGE}"


@settings(max_examples=300, deadline=None)
@given(first=st.binary(max_size=80) | st.text(max_size=60).map(lambda t: b"n,,n=alice,r=" + t.encode()))
def test_any_client_first_either_proceeds_or_fails_cleanly(first: bytes) -> None:
    with contextlib.suppress(SaslAuthenticationError):
        server(SCRAM_SHA_256).evaluate(first)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_corruption_of_a_valid_exchange_fails_cleanly(data: st.DataObject) -> None:
    srv = server(SCRAM_SHA_256)
    kp = KafkaPythonScramClient("alice", "alice-secret", "SCRAM-SHA-256")
    kp.process_server_first_message(srv.evaluate(kp.first_message()))
    final = bytearray(kp.final_message())
    # not the proof's last two characters: "=" and one whose low bits are padding (flipping them keeps the proof)
    at = data.draw(st.integers(0, len(final) - 3))
    final[at] = data.draw(st.integers(0, 255).filter(lambda b: b != final[at]))
    with pytest.raises(SaslAuthenticationError):
        srv.evaluate(bytes(final))


# --- the state machine -----------------------------------------------------------------------------------------

def test_nothing_after_completion_or_failure() -> None:
    srv = server(SCRAM_SHA_256)
    with pytest.raises(RuntimeError, match="not completed"):
        _ = srv.authorization_id
    kp = KafkaPythonScramClient("alice", "alice-secret", "SCRAM-SHA-256")
    kp.process_server_first_message(srv.evaluate(kp.first_message()))
    srv.evaluate(kp.final_message())
    with pytest.raises(SaslAuthenticationError, match="Unexpected challenge in Sasl server state COMPLETE"):
        srv.evaluate(b"n,,n=alice,r=abc")
    assert not srv.complete

    failing = server(SCRAM_SHA_256)
    with pytest.raises(SaslAuthenticationError):
        failing.evaluate(b"garbage")
    with pytest.raises(SaslAuthenticationError, match="Unexpected challenge in Sasl server state FAILED"):
        failing.evaluate(b"n,,n=alice,r=abc")
    with pytest.raises(RuntimeError):
        _ = failing.authorization_id


# --- our client against a misbehaving server -------------------------------------------------------------------

def started(mechanism: ScramMechanism = SCRAM_SHA_256) -> tuple[ScramClient, str]:
    cli = ScramClient(mechanism, username="alice", password="alice-secret")
    nonce = cli.first_message().decode().rsplit("r=", 1)[1]
    return cli, nonce


def test_client_refuses_a_nonce_that_is_not_its_own() -> None:
    cli, _ = started()
    with pytest.raises(SaslAuthenticationError) as exc:
        cli.evaluate(b"r=someone-else,s=c2FsdA==,i=4096")
    assert exc.value.message == "Invalid server nonce: does not start with client nonce"


def test_client_refuses_too_few_iterations() -> None:
    cli, nonce = started()
    with pytest.raises(SaslAuthenticationError) as exc:
        cli.evaluate(f"r={nonce}xyz,s=c2FsdA==,i=1".encode())
    assert exc.value.message == "Requested iterations 1 is less than the minimum 4096 for SCRAM-SHA-256"


@pytest.mark.parametrize("message", [b"", b"r=x", b"s=c2FsdA==,i=4096", b"r=NONCEx,s=c2FsdA=,i=4096",
                                     b"r=NONCEx,s=c2FsdA==,i=0", b"r=NONCEx,s=c2FsdA==,i=99999999999",
                                     b"r=NONCEx,s=c2FsdA==,i=-1", b"\xff"])
def test_client_refuses_a_malformed_server_first(message: bytes) -> None:
    cli, nonce = started()
    with pytest.raises(SaslAuthenticationError, match="Invalid SCRAM server first message format"):
        cli.evaluate(message.replace(b"NONCE", nonce.encode()))


@pytest.mark.parametrize(("final", "error"), [
    (b"e=invalid-proof", "Sasl authentication using SCRAM-SHA-256 failed with error: invalid-proof"),
    (b"v=" + base64.b64encode(b"\0" * 32), "Invalid server signature in server final message"),
    (b"v=!", "Invalid SCRAM server final message format: v=!"),
    (b"", "Invalid SCRAM server final message format: "),
])
def test_client_refuses_a_bad_server_final(final: bytes, error: str) -> None:
    srv = server(SCRAM_SHA_256)
    cli = ScramClient(SCRAM_SHA_256, username="alice", password="alice-secret")
    srv.evaluate(cli.evaluate(srv.evaluate(cli.first_message())))
    with pytest.raises(SaslAuthenticationError) as exc:
        cli.evaluate(final)
    assert exc.value.message == error
    assert not cli.complete
    with pytest.raises(SaslAuthenticationError, match="Unexpected challenge in Sasl client state FAILED"):
        cli.evaluate(b"v=")


def test_client_with_a_wrong_password_is_refused_by_the_server() -> None:
    srv = server(SCRAM_SHA_512)
    cli = ScramClient(SCRAM_SHA_512, username="alice", password="nope")
    with pytest.raises(SaslAuthenticationError, match=failed(SCRAM_SHA_512)):
        srv.evaluate(cli.evaluate(srv.evaluate(cli.first_message())))
