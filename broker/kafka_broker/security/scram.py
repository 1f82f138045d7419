"""SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's ``ScramSaslServer`` and
``ScramSaslClient`` run them, and the credentials the server keeps.

**Credentials.** A password never reaches the broker or ZooKeeper. ``SaltedPassword = Hi(password, salt, i)``
is PBKDF2-HMAC of the mechanism's hash over the password's UTF-8 bytes (Kafka does no SASLprep), and the
server keeps only::

    StoredKey = H(ClientKey), ClientKey = HMAC(SaltedPassword, "Client Key")    checks the client's proof
    ServerKey = HMAC(SaltedPassword, "Server Key")                              signs the server's final message

with the salt and the iteration count. Kafka stores a credential in the user's config (``/config/users/<user>``)
under the mechanism's name, as ``ScramCredentialUtils`` writes it:
``salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<i>`` (standard base64, padded).

**Exchange** (two round trips; the grammar is Kafka's ``ScramMessages``, ASCII only)::

    client-first  n,[a=<authzid>],[m=<reserved>,]n=<saslname>,r=<client nonce>[,<ext>=<value>]...
    server-first  r=<client nonce><server nonce>,s=<b64 salt>,i=<iterations>
    client-final  c=<b64 gs2 header>,r=<nonce>[,<ext>=<value>]...,p=<b64 ClientProof>
    server-final  v=<b64 ServerSignature>            (or e=<error>)

    AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
    ClientSignature = HMAC(StoredKey, AuthMessage);  ClientProof = ClientKey XOR ClientSignature
    server checks     H(ClientProof XOR ClientSignature) == StoredKey  (constant time)
    ServerSignature = HMAC(ServerKey, AuthMessage)

A user name travels as a saslname: ``,`` as ``=2C`` and ``=`` as ``=3D``.

**The server** mirrors Kafka: only the gs2 header ``n`` (no channel binding; ``y`` and ``p=`` do not match the
grammar); extensions are accepted and ignored except ``tokenauth=true`` (a delegation token, which kopfka does
not have, so it fails); the credential is looked up at client-first, so an unknown user fails there as in
Kafka, with the same client message as a wrong password; an ``a=`` authorization id other than the user fails
with Kafka's own message; a credential below the mechanism's minimum iterations is refused. Stricter than
Kafka, as RFC 5802 asks: client-final's ``c=`` must be the base64 of the client's gs2 header (Kafka does not
check it). Its nonce must end with the combined nonce, as Kafka checks (librdkafka 2.0 sends its own nonce
before the combined one; the proof signs the message as sent either way). A client
message longer than ``MAX_CLIENT_MESSAGE`` fails unread: Python's regular expressions keep state for each
repetition of a group (the saslname's escapes, base64's quads, the extensions), so parsing a message as large
as ``sasl.server.max.receive.size`` allows (512 KiB) took over 100 MiB and 80 ms of the event loop; a real
one is a few hundred bytes.

**The client** (the broker's own inter-broker connections) is Kafka's: header ``n,,``, checks that the server
nonce extends its own, that the iteration count is at least the minimum, and the server's signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto

from .sasl import SCRAM_SHA_256 as SCRAM_SHA_256_NAME
from .sasl import SCRAM_SHA_512 as SCRAM_SHA_512_NAME
from .sasl import SaslAuthenticationError, invalid_credentials

__all__ = [
    "BY_NAME",
    "BY_TYPE",
    "MAX_CLIENT_MESSAGE",
    "MECHANISMS",
    "SCRAM_SHA_256",
    "SCRAM_SHA_512",
    "TOKEN_AUTH",
    "CredentialLookup",
    "ScramClient",
    "ScramCredential",
    "ScramMechanism",
    "ScramServer",
    "client_key",
    "credential",
    "hmac_of",
    "salted_password",
    "sasl_name",
    "server_key",
    "stored_key",
    "username_from_sasl_name",
]


@dataclass(frozen=True, slots=True)
class ScramMechanism:
    """A SCRAM mechanism as Kafka names and numbers it (``ScramMechanism``: the wire's ``mechanism`` int8)."""

    name: str
    type: int
    hash_name: str
    min_iterations: int = 4096

    def __str__(self) -> str:
        return self.name


SCRAM_SHA_256 = ScramMechanism(SCRAM_SHA_256_NAME, 1, "sha256")
SCRAM_SHA_512 = ScramMechanism(SCRAM_SHA_512_NAME, 2, "sha512")
MECHANISMS: tuple[ScramMechanism, ...] = (SCRAM_SHA_256, SCRAM_SHA_512)
"""Kafka's SCRAM mechanisms in its order (type 0 is UNKNOWN)."""
BY_TYPE = {m.type: m for m in MECHANISMS}
BY_NAME = {m.name: m for m in MECHANISMS}



def _by_name(name: str) -> ScramMechanism:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"Requested mechanism '{name}' is not supported. "
                         f"Supported mechanisms are '{', '.join(BY_NAME)}'.") from None


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


def sasl_name(username: str) -> str:
    """A user name as a saslname: ``=`` → ``=3D``, then ``,`` → ``=2C`` (Kafka's ``ScramFormatter.saslName``)."""
    return username.replace("=", "=3D").replace(",", "=2C")


_ESCAPE = re.compile("=2C|=3D")


def username_from_sasl_name(name: str) -> str:
    """The user name a saslname stands for; ValueError on an ``=`` that starts neither escape."""
    if "=" in _ESCAPE.sub("", name):
        raise ValueError(f"Invalid username: {name}")
    return _ESCAPE.sub(lambda m: "," if m[0] == "=2C" else "=", name)


# Kafka's ScramMessages grammar (character classes: US-ASCII without NUL, less "," and/or "=")
_VALUE_SAFE = r"[\x01-\x2b\x2d-\x3c\x3e-\x7f]+"
_VALUE = r"[\x01-\x2b\x2d-\x7f]+"
_PRINTABLE = r"[\x21-\x2b\x2d-\x7e]+"
_SASLNAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?"
_EXTENSIONS = rf"(?:,[A-Za-z]+={_VALUE})*"
_RESERVED = rf"(?:m={_VALUE},)?"

_CLIENT_FIRST = re.compile(
    rf"(?P<gs2>n,(?:a=(?P<authzid>{_SASLNAME}))?,)"
    rf"(?P<bare>{_RESERVED}n=(?P<saslname>{_SASLNAME}),r=(?P<nonce>{_PRINTABLE})(?P<extensions>{_EXTENSIONS}))"
)
_SERVER_FIRST = re.compile(
    rf"{_RESERVED}r=(?P<nonce>{_PRINTABLE}),s=(?P<salt>{_BASE64}),i=(?P<iterations>[0-9]+){_EXTENSIONS}"
)
_CLIENT_FINAL = re.compile(
    rf"(?P<without_proof>c=(?P<channel>{_BASE64}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS}),p=(?P<proof>{_BASE64})"
)
_SERVER_FINAL = re.compile(rf"e=(?P<error>{_VALUE_SAFE})|v=(?P<signature>{_BASE64}){_EXTENSIONS}")

TOKEN_AUTH = "tokenauth"
"""The client-first extension asking for delegation-token authentication (Kafka's ``ScramLoginModule``)."""
_INT32_MAX = 2**31 - 1
MAX_CLIENT_MESSAGE = 8192
"""Bytes of the longest client-first or client-final message the server parses."""


def _text(message: bytes) -> str:
    """A SCRAM message as text: Java's ``new String(bytes, UTF_8)`` (bad bytes become U+FFFD and then fail the
    grammar, which is ASCII)."""
    return bytes(message).decode("utf-8", errors="replace")


def _b64decode(text: str) -> bytes:
    """Base64 the grammar has already matched (so it cannot fail; checked anyway)."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the grammar admits only valid base64
        raise SaslAuthenticationError(f"Invalid base64: {text}") from exc


def _nonce() -> str:
    """A fresh nonce: printable, no comma (RFC 5802 ``c-nonce``/``s-nonce``), 144 random bits."""
    return secrets.token_urlsafe(18)


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


CredentialLookup = Callable[[str], ScramCredential | None]
"""The server's credential store: the user's credential for the server's mechanism, or None."""


class _ServerState(Enum):
    RECEIVE_CLIENT_FIRST_MESSAGE = auto()
    RECEIVE_CLIENT_FINAL_MESSAGE = auto()
    COMPLETE = auto()
    FAILED = auto()


class ScramServer:
    """The broker's side of one SCRAM exchange: client-first → server-first, client-final → server-final."""

    def __init__(self, mechanism: ScramMechanism | str, lookup: CredentialLookup, *,
                 reauthenticating: bool = False) -> None:
        """``mechanism`` by value or name (ValueError if not SCRAM); ``lookup`` finds the user's credential for
        it; ``reauthenticating`` words the failures for a re-authentication (KIP-368)."""
        self._scram = mechanism if isinstance(mechanism, ScramMechanism) else _by_name(mechanism)
        self._lookup = lookup
        self._reauthenticating = reauthenticating
        self._state = _ServerState.RECEIVE_CLIENT_FIRST_MESSAGE
        self._user: str | None = None
        self._credential: ScramCredential | None = None
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self.extensions: dict[str, str] = {}
        """The client-first extensions (Kafka accepts any and ignores all but ``tokenauth``)."""

    @property
    def mechanism(self) -> str:
        return self._scram.name

    @property
    def complete(self) -> bool:
        return self._state is _ServerState.COMPLETE

    @property
    def authorization_id(self) -> str:
        if self._state is not _ServerState.COMPLETE or self._user is None:
            raise RuntimeError("Authentication exchange has not completed")
        return self._user

    def evaluate(self, token: bytes) -> bytes:
        try:
            if len(token) > MAX_CLIENT_MESSAGE:
                raise self._invalid(f"SCRAM message of {len(token)} bytes, over {MAX_CLIENT_MESSAGE}")
            if self._state is _ServerState.RECEIVE_CLIENT_FIRST_MESSAGE:
                return self._client_first(_text(token))
            if self._state is _ServerState.RECEIVE_CLIENT_FINAL_MESSAGE:
                return self._client_final(_text(token))
            raise SaslAuthenticationError(f"Unexpected challenge in Sasl server state {self._state.name}")
        except SaslAuthenticationError:
            self._state = _ServerState.FAILED
            self._credential = None
            raise

    def _invalid(self, detail: str) -> SaslAuthenticationError:
        return invalid_credentials(self._scram.name, detail=detail, reauthenticating=self._reauthenticating)

    def _client_first(self, message: str) -> bytes:
        parsed = _CLIENT_FIRST.fullmatch(message)
        if parsed is None:
            raise self._invalid(f"Invalid SCRAM client first message format: {message}")
        self.extensions = {key: value for key, _, value in
                           (ext.partition("=") for ext in parsed["extensions"].split(",")[1:])}
        username = username_from_sasl_name(parsed["saslname"])  # the grammar admits only the two escapes
        if self.extensions.get(TOKEN_AUTH, "").lower() == "true":
            raise self._invalid(f"Token Authentication failed: Invalid tokenId : {username}")
        try:
            found = self._lookup(username)
        except Exception as exc:
            raise self._invalid("Authentication failed: Credentials could not be obtained") from exc
        if found is None:
            raise self._invalid("Authentication failed: Invalid user credentials")
        authzid = parsed["authzid"]
        if authzid is not None and username_from_sasl_name(authzid) != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username")
        if found.iterations < self._scram.min_iterations:
            raise self._invalid(f"Iterations {found.iterations} is less than the minimum "
                                f"{self._scram.min_iterations} for {self._scram}")
        self._user, self._credential = username, found
        self._gs2_header, self._client_first_bare = parsed["gs2"], parsed["bare"]
        self._nonce = parsed["nonce"] + _nonce()
        salt = base64.b64encode(found.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={found.iterations}"
        self._state = _ServerState.RECEIVE_CLIENT_FINAL_MESSAGE
        return self._server_first.encode()

    def _client_final(self, message: str) -> bytes:
        parsed = _CLIENT_FINAL.fullmatch(message)
        if parsed is None:
            raise self._invalid(f"Invalid SCRAM client final message format: {message}")
        if _b64decode(parsed["channel"]) != self._gs2_header.encode():
            raise self._invalid("Invalid channel binding in the final client message.")
        if not parsed["nonce"].endswith(self._nonce):
            # Kafka's ScramSaslServer checks only that it ends with the server's nonce, and clients rely on that:
            # librdkafka 2.0 (Debian's kcat) sends its own nonce twice, before the combined one.
            raise self._invalid(f"Invalid client nonce in the final client message: {parsed['nonce']!r}, "
                                f"expected {self._nonce!r}")
        found = self._credential
        assert found is not None  # set with the state
        auth_message = f"{self._client_first_bare},{self._server_first},{parsed['without_proof']}".encode()
        signature = hmac_of(self._scram, found.stored_key, auth_message)
        proof = _b64decode(parsed["proof"])
        if len(proof) != len(signature) or not hmac.compare_digest(
                stored_key(self._scram, _xor(proof, signature)), found.stored_key):
            raise self._invalid("Invalid client credentials")
        server_signature = hmac_of(self._scram, found.server_key, auth_message)
        self._credential = None
        self._state = _ServerState.COMPLETE
        return b"v=" + base64.b64encode(server_signature)


class _ClientState(Enum):
    SEND_CLIENT_FIRST_MESSAGE = auto()
    RECEIVE_SERVER_FIRST_MESSAGE = auto()
    RECEIVE_SERVER_FINAL_MESSAGE = auto()
    COMPLETE = auto()
    FAILED = auto()


class ScramClient:
    """The client side of one SCRAM exchange, for the broker's own connections to other brokers:
    :meth:`first_message`, then :meth:`evaluate` on server-first (→ client-final) and server-final (→ ``b""``)."""

    def __init__(self, mechanism: ScramMechanism | str, *, username: str, password: str,
                 extensions: Mapping[str, str] | None = None) -> None:
        self._scram = mechanism if isinstance(mechanism, ScramMechanism) else _by_name(mechanism)
        self._username = username
        self._password = password
        self._extensions = dict(extensions or {})
        self._state = _ClientState.SEND_CLIENT_FIRST_MESSAGE
        self._client_nonce = ""
        self._client_first_bare = ""
        self._server_signature = b""

    @property
    def mechanism(self) -> str:
        return self._scram.name

    @property
    def complete(self) -> bool:
        return self._state is _ClientState.COMPLETE

    def first_message(self) -> bytes:
        """client-first: ``n,,n=<saslname>,r=<nonce>[,<extensions>]``."""
        if self._state is not _ClientState.SEND_CLIENT_FIRST_MESSAGE:
            raise self._fail(f"Unexpected challenge in Sasl client state {self._state.name}")
        self._client_nonce = _nonce()
        extensions = "".join(f",{k}={v}" for k, v in self._extensions.items())
        self._client_first_bare = f"n={sasl_name(self._username)},r={self._client_nonce}{extensions}"
        self._state = _ClientState.RECEIVE_SERVER_FIRST_MESSAGE
        return f"n,,{self._client_first_bare}".encode()

    def evaluate(self, challenge: bytes) -> bytes:
        """The answer to the server's next message; SaslAuthenticationError if the server is not to be trusted."""
        if self._state is _ClientState.RECEIVE_SERVER_FIRST_MESSAGE:
            return self._server_first(_text(challenge))
        if self._state is _ClientState.RECEIVE_SERVER_FINAL_MESSAGE:
            return self._server_final(_text(challenge))
        raise self._fail(f"Unexpected challenge in Sasl client state {self._state.name}")

    def _fail(self, message: str) -> SaslAuthenticationError:
        self._state = _ClientState.FAILED
        self._password = ""
        return SaslAuthenticationError(message)

    def _server_first(self, message: str) -> bytes:
        parsed = _SERVER_FIRST.fullmatch(message)
        if parsed is None:
            raise self._fail(f"Invalid SCRAM server first message format: {message}")
        iterations = int(parsed["iterations"])
        if not 0 < iterations <= _INT32_MAX:
            raise self._fail(f"Invalid SCRAM server first message format: invalid iterations {iterations}")
        nonce = parsed["nonce"]
        if not nonce.startswith(self._client_nonce):
            raise self._fail("Invalid server nonce: does not start with client nonce")
        if iterations < self._scram.min_iterations:
            raise self._fail(f"Requested iterations {iterations} is less than the minimum "
                             f"{self._scram.min_iterations} for {self._scram}")
        salted = salted_password(self._scram, self._password, _b64decode(parsed["salt"]), iterations)
        self._password = ""
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={nonce}"
        auth_message = f"{self._client_first_bare},{message},{without_proof}".encode()
        key = client_key(self._scram, salted)
        proof = _xor(key, hmac_of(self._scram, stored_key(self._scram, key), auth_message))
        self._server_signature = hmac_of(self._scram, server_key(self._scram, salted), auth_message)
        self._state = _ClientState.RECEIVE_SERVER_FINAL_MESSAGE
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _server_final(self, message: str) -> bytes:
        parsed = _SERVER_FINAL.fullmatch(message)
        if parsed is None:
            raise self._fail(f"Invalid SCRAM server final message format: {message}")
        if parsed["error"] is not None:
            raise self._fail(f"Sasl authentication using {self._scram} failed with error: {parsed['error']}")
        if not hmac.compare_digest(_b64decode(parsed["signature"]), self._server_signature):
            raise self._fail("Invalid server signature in server final message")
        self._state = _ClientState.COMPLETE
        return b""
