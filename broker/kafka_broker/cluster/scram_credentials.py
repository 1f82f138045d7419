"""SCRAM credentials (RFC 5802) as Kafka derives and stores them; shared by the admin APIs and the SASL/SCRAM
authenticator.

A password never reaches the broker or ZooKeeper. ``SaltedPassword = Hi(password, salt, i)`` is PBKDF2-HMAC
of the mechanism's hash (the client computes it), and the server keeps only::

    StoredKey = H(HMAC(SaltedPassword, "Client Key"))     checks the client's proof
    ServerKey = HMAC(SaltedPassword, "Server Key")        signs the server's final message

with the salt and the iteration count. Kafka stores a credential in the user's config
(``/config/users/<user>``) under the mechanism's name, as ``ScramCredentialUtils`` writes it:
``salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<i>`` (standard base64, padded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScramMechanism:
    """A SCRAM mechanism as Kafka names and numbers it (``ScramMechanism``: the wire's ``mechanism`` int8)."""

    name: str
    type: int
    hash_name: str
    min_iterations: int = 4096


SCRAM_SHA_256 = ScramMechanism("SCRAM-SHA-256", 1, "sha256")
SCRAM_SHA_512 = ScramMechanism("SCRAM-SHA-512", 2, "sha512")
MECHANISMS: tuple[ScramMechanism, ...] = (SCRAM_SHA_256, SCRAM_SHA_512)
"""Kafka's SCRAM mechanisms in its order (type 0 is UNKNOWN)."""
BY_TYPE = {m.type: m for m in MECHANISMS}
BY_NAME = {m.name: m for m in MECHANISMS}

_FIELDS = ("salt", "stored_key", "server_key", "iterations")


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """What the server keeps of a password for one mechanism."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def encode(self) -> str:
        """The credential as Kafka stores it in a user's config."""
        b64 = base64.b64encode
        return (f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
                f"server_key={b64(self.server_key).decode()},iterations={self.iterations}")

    @classmethod
    def decode(cls, text: str) -> ScramCredential:
        """Read :meth:`encode`'s form (Kafka's ``credentialFromString``); ValueError if it is not one."""
        fields: dict[str, str] = {}
        for token in text.split(","):
            key, eq, value = token.partition("=")
            if not key or not eq:
                raise ValueError(f"Credentials not valid: {text}")
            fields[key] = value
        if sorted(fields) != sorted(_FIELDS):
            raise ValueError(f"Credentials not valid: {text}")
        try:
            return cls(base64.b64decode(fields["salt"], validate=True),
                       base64.b64decode(fields["stored_key"], validate=True),
                       base64.b64decode(fields["server_key"], validate=True), int(fields["iterations"]))
        except ValueError as exc:  # bad base64 (binascii.Error is one), a non-integer iteration count
            raise ValueError(f"Credentials not valid: {text}") from exc


def hmac_of(mechanism: ScramMechanism, key: bytes, message: bytes) -> bytes:
    """``HMAC(key, message)`` with the mechanism's hash."""
    return hmac.new(key, message, mechanism.hash_name).digest()


def salted_password(mechanism: ScramMechanism, password: str, salt: bytes, iterations: int) -> bytes:
    """``Hi(Normalize(password), salt, i)``: PBKDF2-HMAC with the mechanism's hash (what a client sends)."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password.encode(), salt, iterations)


def client_key(mechanism: ScramMechanism, salted: bytes) -> bytes:
    return hmac_of(mechanism, salted, b"Client Key")


def stored_key(mechanism: ScramMechanism, client_key_: bytes) -> bytes:
    """``H(ClientKey)``."""
    return hashlib.new(mechanism.hash_name, client_key_).digest()


def server_key(mechanism: ScramMechanism, salted: bytes) -> bytes:
    return hmac_of(mechanism, salted, b"Server Key")


def credential(mechanism: ScramMechanism, *, salt: bytes, salted: bytes, iterations: int) -> ScramCredential:
    """The credential the server keeps for a salted password (Kafka's ``ScramFormatter.generateCredential``)."""
    return ScramCredential(bytes(salt), stored_key(mechanism, client_key(mechanism, salted)),
                           server_key(mechanism, salted), iterations)
