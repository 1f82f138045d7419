"""SASL/PLAIN (RFC 4616) as Kafka's ``PlainSaslServer``: one client token, ``[authzid] NUL authcid NUL passwd``
(UTF-8), answered with an empty token.

The server splits the token at its first three NULs and wants exactly three parts; then, in Kafka's order,
each failing with Kafka's own message (PLAIN's messages go to the client as they are): an empty user name, an
empty password, the password check (the caller's ``(user, password) -> bool``; one that raises counts as
"could not be verified"), and an authorization id other than empty or the user name. The broker's users come
from its ``PlainLoginModule`` JAAS entry as ``user_<name>="<password>"`` options (:func:`users_check` compares
in constant time, as Kafka's ``PlainServerCallbackHandler``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from .sasl import PLAIN, SaslAuthenticationError

__all__ = ["PasswordCheck", "PlainServer", "initial_response", "users_check"]

PasswordCheck = Callable[[str, str], bool]
"""(user name, password) → whether they match."""


class PlainServer:
    """The broker's side of one PLAIN exchange."""

    def __init__(self, check: PasswordCheck) -> None:
        self._check = check
        self._user: str | None = None
        self._done = False

    @property
    def mechanism(self) -> str:
        return PLAIN

    @property
    def complete(self) -> bool:
        return self._user is not None

    @property
    def authorization_id(self) -> str:
        if self._user is None:
            raise RuntimeError("Authentication exchange has not completed")
        return self._user

    def evaluate(self, token: bytes) -> bytes:
        if self._done:
            raise SaslAuthenticationError("Unexpected SASL/PLAIN token: the exchange has ended")
        self._done = True
        tokens = bytes(token).decode("utf-8", errors="replace").split("\0", 3)
        if len(tokens) != 3:
            raise SaslAuthenticationError(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(tokens)}")
        authzid, username, password = tokens
        if not username:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        try:
            accepted = self._check(username, password)
        except Exception as exc:
            raise SaslAuthenticationError("Authentication failed: credentials for user could not be verified",
                                          detail=repr(exc)) from exc
        if not accepted:
            raise SaslAuthenticationError("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username")
        self._user = username
        return b""


def users_check(users: Mapping[str, str]) -> PasswordCheck:
    """The check for a fixed table of users (name → password), comparing passwords in constant time."""

    def check(username: str, password: str) -> bool:
        expected = users.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    return check


def initial_response(*, username: str, password: str, authorization_id: str = "") -> bytes:
    """The client's token (the broker's own, on inter-broker connections)."""
    return f"{authorization_id}\0{username}\0{password}".encode()
