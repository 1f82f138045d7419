"""DescribeUserScramCredentials and AlterUserScramCredentials against ZooKeeper, with the semantics of Kafka's
ZooKeeper mode (``ZkAdminManager``).

A user's credentials are keys of its config znode ``/config/users/<sanitized user>``, one per mechanism
(:mod:`kafka_broker.cluster.scram_credentials`); the same znode holds the user's client quotas, which both
APIs leave as they are (:mod:`kafka_broker.cluster.entity_config` changes only the keys asked for).

**Describe** all users (no list, or an empty one): every user whose znode has a credential, sorted by name.
Named users: each once, in the order asked; an empty name is RESOURCE_NOT_FOUND, a name asked twice
DUPLICATE_RESOURCE, a user without credentials RESOURCE_NOT_FOUND — each with Kafka's message. A user's
mechanisms come in Kafka's order (SCRAM-SHA-256, then SCRAM-SHA-512) with their iteration counts.

**Alter** takes deletions (user, mechanism) and upsertions (user, mechanism, iterations, salt, salted
password) and answers once per user, checked in Kafka's order:

1. a user with an empty name, an unknown mechanism (UNSUPPORTED_SASL_MECHANISM) or iterations outside
   4096..16384 (UNACCEPTABLE_CREDENTIAL; an empty name is UNACCEPTABLE_CREDENTIAL too) fails whole;
2. a user naming one mechanism twice (upserted twice, or upserted and deleted) fails with DUPLICATE_RESOURCE;
3. a user deleting a credential it does not have fails with RESOURCE_NOT_FOUND;
4. the rest are written, one read-modify-write of the user's znode each: deletions drop the mechanism's key,
   upsertions store ``stored_key``/``server_key`` derived from the salted password, then a change notice
   ``users/<user>`` goes under ``/config/changes``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kazoo.exceptions import KazooException

from kafka_broker import metadata as md
from kafka_broker.cluster.entity_config import entity_names, read_entity_config, update_entity_config
from kafka_broker.cluster.scram_credentials import BY_TYPE, MECHANISMS, ScramCredential, credential
from kafka_broker.cluster.zk_store import ZkClient
from kafka_broker.protocol import ErrorCode, KafkaError

MAX_ITERATIONS = 16384
"""The most iterations AlterUserScramCredentials accepts (Kafka's bound; the least is the mechanism's)."""

USERNAME_EMPTY = "Username must not be empty"
UNKNOWN_MECHANISM = "Unknown SCRAM mechanism"
UNKNOWN_SERVER_ERROR = "The server experienced an unexpected error when processing the request."


@dataclass(frozen=True, slots=True)
class UserResult:
    """One user's outcome: its mechanisms and iterations (describe), or an error."""

    user: str
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None
    credentials: tuple[tuple[int, int], ...] = ()
    """(mechanism type, iterations) for each credential the user has (describe only)."""


@dataclass(frozen=True, slots=True)
class Deletion:
    user: str
    mechanism: int


@dataclass(frozen=True, slots=True)
class Upsertion:
    user: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes


class ScramAdmin:
    """Reads and writes users' SCRAM credentials in ZooKeeper (blocking calls run in a worker thread)."""

    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk

    # --- describe --------------------------------------------------------------------------------

    async def describe(self, users: Sequence[str] | None) -> list[UserResult]:
        """Kafka's answer for ``users`` (None or empty: every user with credentials); raises KafkaError when
        ZooKeeper cannot be read."""
        return await asyncio.to_thread(self._describe_sync, list(users or ()))

    def _describe_sync(self, users: list[str]) -> list[UserResult]:
        if not users:
            found = []
            for sanitized in entity_names(self.zk, md.CONFIG_USERS_PATH):
                name = md.desanitize_entity_name(sanitized)
                if name is None:
                    continue  # <default> holds default quotas only
                result = self._describe_user(name, read_entity_config(self.zk, md.quota_entity_path(sanitized, None)))
                if result is not None:
                    found.append(result)
            return sorted(found, key=lambda r: r.user)
        results = []
        counts = Counter(users)
        for user in counts:
            if not user:
                results.append(UserResult(user, ErrorCode.RESOURCE_NOT_FOUND, USERNAME_EMPTY))
            elif counts[user] > 1:
                results.append(UserResult(user, ErrorCode.DUPLICATE_RESOURCE,
                                          f"Cannot describe SCRAM credentials for the same user twice in a single "
                                          f"request: {user}"))
            else:
                entity = md.quota_entity_path(md.sanitize_entity_name(user), None)
                results.append(self._describe_user(user, read_entity_config(self.zk, entity)) or UserResult(
                    user, ErrorCode.RESOURCE_NOT_FOUND,
                    f"Attempt to describe a user credential that does not exist: {user}"))
        return results

    @staticmethod
    def _describe_user(user: str, config: dict[str, str]) -> UserResult | None:
        """The user's credentials, None when it has none (a corrupt one is UNKNOWN_SERVER_ERROR, as in Kafka)."""
        present = [m for m in MECHANISMS if m.name in config]
        if not present:
            return None
        try:
            infos = tuple((m.type, ScramCredential.decode(config[m.name]).iterations) for m in present)
        except ValueError:
            return UserResult(user, ErrorCode.UNKNOWN_SERVER_ERROR, UNKNOWN_SERVER_ERROR)
        return UserResult(user, credentials=infos)

    # --- alter -----------------------------------------------------------------------------------

    async def alter(self, deletions: Sequence[Deletion], upsertions: Sequence[Upsertion]) -> list[UserResult]:
        """Apply the changes user by user; one result per user named (see the module doc for the order)."""
        return await asyncio.to_thread(self._alter_sync, list(deletions), list(upsertions))

    def _alter_sync(self, deletions: list[Deletion], upsertions: list[Upsertion]) -> list[UserResult]:
        results: list[UserResult] = []
        illegal: dict[str, str] = {}  # user → message; an upsertion's reason wins over a deletion's
        for d in deletions:
            if not d.user or d.mechanism not in BY_TYPE:
                illegal[d.user] = USERNAME_EMPTY if not d.user else UNKNOWN_MECHANISM
        for u in upsertions:
            reason = _illegal_upsertion(u)
            if reason is not None:
                illegal[u.user] = reason
        for user, message in illegal.items():
            code = ErrorCode.UNSUPPORTED_SASL_MECHANISM if message == UNKNOWN_MECHANISM \
                else ErrorCode.UNACCEPTABLE_CREDENTIAL
            results.append(UserResult(user, code, message))

        pairs = [(c.user, c.mechanism) for c in upsertions if c.user not in illegal]
        pairs += [(c.user, c.mechanism) for c in deletions if c.user not in illegal]
        counts = Counter(pairs)
        duplicated = list(dict.fromkeys(user for user, mechanism in pairs if counts[(user, mechanism)] > 1))
        results.extend(UserResult(user, ErrorCode.DUPLICATE_RESOURCE,
                                  "A user credential cannot be altered twice in the same request")
                       for user in duplicated)

        changes: dict[str, tuple[list[Deletion], list[Upsertion]]] = {
            user: ([], []) for user, _ in pairs if user not in duplicated}
        for d in deletions:
            if d.user in changes:
                changes[d.user][0].append(d)
        for u in upsertions:
            if u.user in changes:
                changes[u.user][1].append(u)
        for user, (user_deletions, user_upsertions) in changes.items():
            try:
                self._alter_user(user, user_deletions, user_upsertions)
            except KafkaError as exc:
                results.append(UserResult(user, exc.code, exc.message or None))
            except KazooException:
                results.append(UserResult(user, ErrorCode.UNKNOWN_SERVER_ERROR, UNKNOWN_SERVER_ERROR))
            else:
                results.append(UserResult(user))
        return results

    def _alter_user(self, user: str, deletions: list[Deletion], upsertions: list[Upsertion]) -> None:
        def change(config: dict[str, str]) -> None:
            for d in deletions:
                if BY_TYPE[d.mechanism].name not in config:
                    raise KafkaError("Attempt to delete a user credential that does not exist",
                                     code=ErrorCode.RESOURCE_NOT_FOUND)
            for d in deletions:
                del config[BY_TYPE[d.mechanism].name]
            for u in upsertions:
                mechanism = BY_TYPE[u.mechanism]
                config[mechanism.name] = credential(mechanism, salt=u.salt, salted=u.salted_password,
                                                    iterations=u.iterations).encode()

        update_entity_config(self.zk, md.quota_entity_path(md.sanitize_entity_name(user), None), change)


def _illegal_upsertion(u: Upsertion) -> str | None:
    if not u.user:
        return USERNAME_EMPTY
    mechanism = BY_TYPE.get(u.mechanism)
    if mechanism is None:
        return UNKNOWN_MECHANISM
    if u.iterations < mechanism.min_iterations:
        return "Too few iterations"
    if u.iterations > MAX_ITERATIONS:
        return "Too many iterations"
    return None
