"""SASL/PLAIN: the tokens kafka-python and aiokafka send, and every refusal worded as Kafka's PlainSaslServer
words it (PLAIN's messages reach the client as they are)."""

from __future__ import annotations

import pytest
from aiokafka.conn import SaslPlainAuthenticator
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.net.sasl.plain import SaslMechanismPlain

from kafka_broker.security.plain import PlainServer, initial_response, users_check
from kafka_broker.security.sasl import PLAIN, SaslAuthenticationError

USERS = {"alice": "alice-secret", "bob": "pässwörd"}


def server() -> PlainServer:
    return PlainServer(users_check(USERS))


def refused(token: bytes) -> str:
    srv = server()
    with pytest.raises(SaslAuthenticationError) as exc:
        srv.evaluate(token)
    assert not srv.complete
    return exc.value.message


@pytest.mark.parametrize("token", [b"\0alice\0alice-secret", b"alice\0alice\0alice-secret"])
def test_good_tokens(token: bytes) -> None:
    srv = server()
    assert srv.mechanism == PLAIN
    with pytest.raises(RuntimeError, match="not completed"):
        _ = srv.authorization_id
    assert srv.evaluate(token) == b""
    assert srv.complete and srv.authorization_id == "alice"


def test_kafka_python_and_aiokafka_tokens() -> None:
    kp = SaslMechanismPlain(sasl_plain_username="bob", sasl_plain_password="pässwörd")
    srv = server()
    kp.receive(srv.evaluate(kp.auth_bytes()))
    assert kp.is_authenticated() and srv.authorization_id == "bob"

    steps = SaslPlainAuthenticator(loop=None, sasl_plain_username="bob", sasl_plain_password="pässwörd")._authenticator
    token, _ = next(steps)
    srv = server()
    with pytest.raises(StopIteration):  # aiokafka asserts the answer is empty
        steps.send(srv.evaluate(token))
    assert srv.authorization_id == "bob"


def test_our_client_token() -> None:
    assert initial_response(username="alice", password="alice-secret") == b"\0alice\0alice-secret"
    assert initial_response(username="a", password="p", authorization_id="a") == b"a\0a\0p"
    srv = server()
    srv.evaluate(initial_response(username="bob", password="pässwörd"))
    assert srv.authorization_id == "bob"


@pytest.mark.parametrize(("token", "message"), [
    (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
    (b"\0mallory\0alice-secret", "Authentication failed: Invalid username or password"),
    (b"\0Alice\0alice-secret", "Authentication failed: Invalid username or password"),
    (b"\0alice\0alice-secret ", "Authentication failed: Invalid username or password"),
    (b"\0\0alice-secret", "Authentication failed: username not specified"),
    (b"\0alice\0", "Authentication failed: password not specified"),
    (b"\0\0", "Authentication failed: username not specified"),
    (b"bob\0alice\0alice-secret",
     "Authentication failed: Client requested an authorization id that is different from username"),
    (b"", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    (b"alice", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    (b"alice\0alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"),
    (b"\0alice\0alice-secret\0", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
    (b"\0a\0b\0c\0d\0e", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
    (b"\0bob\0p\xe4ssw\xf6rd", "Authentication failed: Invalid username or password"),  # Latin-1, not UTF-8
])
def test_bad_tokens(token: bytes, message: str) -> None:
    assert refused(token) == message


def test_the_password_is_checked_before_the_authorization_id() -> None:
    """Kafka's order: a wrong password with another authorization id is a wrong password."""
    assert refused(b"bob\0alice\0wrong") == "Authentication failed: Invalid username or password"


def test_a_check_that_raises() -> None:
    def check(user: str, password: str) -> bool:
        raise OSError("password file went away")

    with pytest.raises(SaslAuthenticationError) as exc:
        PlainServer(check).evaluate(b"\0alice\0x")
    assert exc.value.message == "Authentication failed: credentials for user could not be verified"
    assert "password file went away" in (exc.value.detail or "")


def test_the_check_sees_the_user_and_password() -> None:
    seen: list[tuple[str, str]] = []

    def check(user: str, password: str) -> bool:
        seen.append((user, password))
        return True

    PlainServer(check).evaluate("z\0z\0p ä".encode())
    assert seen == [("z", "p ä")]


def test_one_token_only() -> None:
    srv = server()
    srv.evaluate(b"\0alice\0alice-secret")
    with pytest.raises(SaslAuthenticationError):
        srv.evaluate(b"\0alice\0alice-secret")
    failing = server()
    with pytest.raises(SaslAuthenticationError):
        failing.evaluate(b"\0alice\0wrong")
    with pytest.raises(SaslAuthenticationError):
        failing.evaluate(b"\0alice\0alice-secret")
    assert not failing.complete


def test_users_check_compares_whole_passwords() -> None:
    check = users_check(USERS)
    assert check("alice", "alice-secret") and check("bob", "pässwörd")
    assert not check("alice", "alice-secre") and not check("alice", "alice-secret2") and not check("alice", "")
    assert not check("carol", "alice-secret")


@settings(max_examples=300, deadline=None)
@given(token=st.binary(max_size=40) | st.lists(st.text(max_size=8), max_size=5).map(lambda p: "\0".join(p).encode()))
def test_any_token_either_authenticates_or_fails_cleanly(token: bytes) -> None:
    srv = server()
    try:
        srv.evaluate(token)
    except SaslAuthenticationError:
        assert not srv.complete
    else:
        assert srv.authorization_id in USERS
