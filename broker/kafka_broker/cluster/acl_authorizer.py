"""The broker's authorizer: Kafka's ``AclAuthorizer`` — ACLs in ZooKeeper, cached in memory, kept current on
every broker through change notices.

**Storage** (Kafka's layout, :mod:`kafka_broker.metadata`): the ACLs of a resource pattern are one znode,
``/kafka-acl/<ResourceType>/<name>`` for a literal pattern and ``/kafka-acl-extended/prefixed/<ResourceType>/<name>``
for a prefixed one, holding ``{"acls":[{"principal":..,"permissionType":..,"host":..,"operation":..}],"version":1}``.
Every change writes a sequential notice naming the pattern, ``/kafka-acl-changes/acl_changes_<seq>`` (literal)
or ``/kafka-acl-extended-changes/acl_changes_<seq>`` (prefixed), which Kafka's brokers and kopfka's watch.

**Start** (:meth:`AclAuthorizer.start`, blocking): create the stores' znodes as Kafka does, watch both notice
paths, then read every resource znode into the cache — watching first, so no change falls between the
read and the watch.

**Notices** (Kafka's ``ZkNodeChangeNotificationListener``): when the children of a notice path change, each
notice with a sequence number above the last one handled is read and the pattern it names is read again from
ZooKeeper into the cache, in sequence order; the first pass handles every notice there (harmless re-reads). Then
notices older than :data:`CHANGE_EXPIRATION_MS` (15 minutes) are deleted, as every Kafka broker deletes them.
A broker away from ZooKeeper for longer than that may miss a change until it restarts (as Kafka's would).

**Changes** (:meth:`AclAuthorizer.create_acls`, :meth:`AclAuthorizer.delete_acls`, Kafka's
``updateResourceAcls``): one read-modify-write per resource pattern, starting from the cached znode (or
ZooKeeper's when not cached), written conditionally on its version — created when absent, deleted when no ACL
is left — and, after a lost race, read again and retried after 100 to 150 ms, up to :data:`MAX_UPDATE_RETRIES`
times. A write that changed the ACLs updates the cache and writes the notice. Changes run one at a time (a
lock, as Kafka's), in a worker thread.

Deleting: the patterns considered are those cached plus, for each filter that names its patterns outright,
those patterns (read from ZooKeeper: an ACL created on another broker a moment ago is deleted too); each ACL
is reported under the first filter that matched it (Kafka's). Describing (:meth:`AclAuthorizer.acls`) reads the
cache.

**Deciding** (:meth:`AclAuthorizer.authorize`): the ACLs of :func:`~kafka_broker.security.acl.applicable_patterns`
are looked up in the cache and judged by :func:`~kafka_broker.security.acl.authorize`; for some resource of a type
(:meth:`AclAuthorizer.authorize_by_resource_type`) the whole cache is judged by
:func:`~kafka_broker.security.acl.authorize_by_resource_type`. The cache is replaced
as a whole on every change (copy on write), so the event loop reads it without a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_store import ZkClient
from kafka_broker.config import AuthorizerSettings
from kafka_broker.protocol import ErrorCode, KafkaError
from kafka_broker.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    applicable_patterns,
    authorize,
    authorize_by_resource_type,
    creation_error,
    is_valid_principal,
)
from kafka_broker.security.principal import KafkaPrincipal

log = logging.getLogger(__name__)

MAX_UPDATE_RETRIES = 10
"""Conditional writes of one pattern's ACLs retried after a lost race before the change fails (Kafka's)."""
RETRY_BACKOFF_MS = 100
RETRY_JITTER_MS = 50
CHANGE_EXPIRATION_MS = 15 * 60 * 1000
"""Age of a change notice after which brokers delete it (Kafka's ``changeExpirationMs``)."""
ABSENT = -1
"""The version of a pattern without a znode."""

DeleteResult = list[tuple[AclBinding, KafkaError | None]]
"""The ACLs one filter deleted, each with the error that kept it (None: deleted)."""


@dataclass(frozen=True, slots=True)
class VersionedAcls:
    """One pattern's ACLs and the version of its znode (:data:`ABSENT`: none)."""

    acls: frozenset[AccessControlEntry]
    zk_version: int


NO_ACLS = VersionedAcls(frozenset(), ABSENT)


class UpdateError(Exception):
    """A pattern's ACLs could not be written (the race never ended, or ZooKeeper failed)."""


def _server_error() -> KafkaError:
    """Kafka's answer for an error that is not an API error: UNKNOWN_SERVER_ERROR without a message."""
    return KafkaError("", code=ErrorCode.UNKNOWN_SERVER_ERROR)


def _to_znode(entry: AccessControlEntry) -> md.AclZnodeEntry:
    return md.AclZnodeEntry(entry.principal, entry.permission_type.zk_name, entry.operation.zk_name, entry.host)


def _from_znode(entry: md.AclZnodeEntry) -> AccessControlEntry:
    return AccessControlEntry(entry.principal, entry.host, AclOperation.from_name(entry.operation),
                              AclPermissionType.from_name(entry.permission_type))


def _znode_path(pattern: ResourcePattern) -> str:
    return md.acl_resource_path(pattern.pattern_type.name, pattern.resource_type.zk_name, pattern.name)


class AclAuthorizer:
    """ACLs from ZooKeeper, the authorization decision over them, and their changes (module docstring)."""

    def __init__(self, settings: AuthorizerSettings, zk: ZkClient, *,
                 now_ms: Callable[[], float] = lambda: time.time() * 1000) -> None:
        self.zk = zk
        self.super_users = frozenset(KafkaPrincipal(*p.split(":", 1)) for p in settings.super_user_principals)
        """Kafka's ``super.users``: each ``Type:name`` split at its first colon (either part may be empty)."""
        self.allow_everyone_if_no_acl_found = settings.allow_everyone_if_no_acl_found
        self._now_ms = now_ms
        self._cache: dict[ResourcePattern, VersionedAcls] = {}
        """Every pattern with ACLs; replaced whole on each change (see the module docstring)."""
        self._lock = threading.RLock()
        """Held by every change of ZooKeeper's ACLs or the cache (worker threads, kazoo's watch thread)."""
        self._last_notice: dict[str, int] = {}
        """The sequence number of the last notice handled, per notice path."""
        self._stopped = False

    # --- start and notices ---------------------------------------------------------------------------

    def start(self) -> None:
        """Create the stores' znodes, watch the notices, read every ACL (blocking: call in a thread)."""
        for path in md.acl_paths():
            self.zk.ensure_path(path)
        for pattern_type in md.ACL_PATTERN_TYPES:
            path = md.acl_change_path(pattern_type)
            ChildrenWatch(self.zk, path, self._notices_watch(pattern_type, path))
        with self._lock:
            for pattern in self._stored_patterns():
                self._cache_put(pattern, self._read(pattern))
        log.info("ACL authorizer started: %d resource patterns with ACLs", len(self._cache))

    def stop(self) -> None:
        self._stopped = True

    def _stored_patterns(self) -> list[ResourcePattern]:
        patterns: list[ResourcePattern] = []
        for pattern_type in md.ACL_PATTERN_TYPES:
            store = md.acl_store_path(pattern_type)
            for type_name in self._children(store):
                resource_type = ResourceType.from_name(type_name)
                if resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
                    log.warning("ignoring ACLs of unknown resource type %s/%s", store, type_name)
                    continue
                patterns.extend(ResourcePattern(resource_type, name, PatternType[pattern_type])
                                for name in self._children(f"{store}/{type_name}"))
        return patterns

    def _children(self, path: str) -> list[str]:
        try:
            return sorted(self.zk.get_children(path))
        except NoNodeError:
            return []

    def _notices_watch(self, pattern_type: str, path: str) -> Callable[[list[str]], bool]:
        def changed(children: list[str]) -> bool:
            if self._stopped:
                return False
            try:
                self._handle_notices(pattern_type, path, children)
            except Exception:
                log.exception("handling the ACL change notices of %s failed", path)
            return True

        return changed

    def _handle_notices(self, pattern_type: str, path: str, children: list[str]) -> None:
        notices = sorted((int(name[len(md.ACL_CHANGE_PREFIX):]), name) for name in children
                         if name.startswith(md.ACL_CHANGE_PREFIX) and name[len(md.ACL_CHANGE_PREFIX):].isdigit())
        if not notices:
            return
        now = self._now_ms()
        for seq, name in notices:
            if seq <= self._last_notice.get(path, -1):
                continue
            self._handle_notice(pattern_type, f"{path}/{name}")
            self._last_notice[path] = seq
        for _, name in notices:  # Kafka's purgeObsoleteNotifications
            stat = self.zk.exists(f"{path}/{name}")
            if stat is not None and now - stat.ctime > CHANGE_EXPIRATION_MS:  # type: ignore[attr-defined]
                with contextlib.suppress(NoNodeError):
                    self.zk.delete(f"{path}/{name}")

    def _handle_notice(self, pattern_type: str, notice: str) -> None:
        try:
            data, _ = self.zk.get(notice)
        except NoNodeError:
            return
        try:
            type_name, name, pattern_name = md.decode_acl_change(pattern_type, data)
            pattern = ResourcePattern(ResourceType.from_name(type_name), name, PatternType.from_name(pattern_name))
        except ValueError as exc:
            log.error("ignoring ACL change notice %s: %s", notice, exc)
            return
        with self._lock:
            acls = self._read(pattern)
            log.info("ACLs of %s changed: %d ACLs (znode version %d)", pattern, len(acls.acls), acls.zk_version)
            self._cache_put(pattern, acls)

    # --- the cache -------------------------------------------------------------------------------------

    def _read(self, pattern: ResourcePattern) -> VersionedAcls:
        try:
            data, stat = self.zk.get(_znode_path(pattern))
        except NoNodeError:
            return NO_ACLS
        try:
            entries = frozenset(_from_znode(e) for e in md.decode_acls(data))
        except ValueError as exc:
            log.error("ignoring the malformed ACLs of %s: %s", pattern, exc)
            entries = frozenset()
        return VersionedAcls(entries, stat.version)

    def _cache_put(self, pattern: ResourcePattern, acls: VersionedAcls) -> None:
        cache = dict(self._cache)
        if acls.acls:
            cache[pattern] = acls
        else:
            cache.pop(pattern, None)
        self._cache = cache

    # --- deciding and describing ---------------------------------------------------------------------

    def authorize(self, principal: KafkaPrincipal, host: str, operation: AclOperation, resource_type: ResourceType,
                  name: str) -> bool:
        """Whether ``principal`` connected from ``host`` may do ``operation`` on the resource ``name``."""
        cache = self._cache
        acls = [acl for pattern in applicable_patterns(resource_type, name)
                if (versioned := cache.get(pattern)) is not None for acl in versioned.acls]
        allowed = authorize(acls, principal=principal, host=host, operation=operation, super_users=self.super_users,
                            allow_everyone_if_no_acl_found=self.allow_everyone_if_no_acl_found)
        log.debug("principal %s is %s operation %s from host %s on %s %s", principal,
                  "allowed" if allowed else "denied", operation.name, host, resource_type.name, name)
        return allowed

    def authorize_by_resource_type(self, principal: KafkaPrincipal, host: str, operation: AclOperation,
                                   resource_type: ResourceType) -> bool:
        """Whether ``principal`` from ``host`` may do ``operation`` on some resource of ``resource_type``
        (:func:`~kafka_broker.security.acl.authorize_by_resource_type`)."""
        return authorize_by_resource_type({pattern: versioned.acls for pattern, versioned in self._cache.items()},
                                          principal=principal, host=host, operation=operation,
                                          resource_type=resource_type, super_users=self.super_users,
                                          allow_everyone_if_no_acl_found=self.allow_everyone_if_no_acl_found)

    def acls(self, binding_filter: AclBindingFilter) -> list[AclBinding]:
        """The cached ACLs ``binding_filter`` matches."""
        return [binding for pattern, versioned in self._cache.items() for entry in versioned.acls
                if binding_filter.matches(binding := AclBinding(pattern, entry))]

    # --- changes ---------------------------------------------------------------------------------------

    async def create_acls(self, bindings: Sequence[AclBinding]) -> list[KafkaError | None]:
        """Create ``bindings``; for each, None or the error that refused it (module docstring)."""
        return await asyncio.to_thread(self._create_acls, bindings)

    async def delete_acls(self, filters: Sequence[AclBindingFilter]) -> list[DeleteResult]:
        """Delete the ACLs each filter matches; for each filter, the ACLs it deleted (module docstring)."""
        return await asyncio.to_thread(self._delete_acls, filters)

    def _create_acls(self, bindings: Sequence[AclBinding]) -> list[KafkaError | None]:
        results: list[KafkaError | None] = [None] * len(bindings)
        by_pattern: dict[ResourcePattern, list[int]] = {}
        for index, binding in enumerate(bindings):
            error = creation_error(binding)
            if error is not None:
                results[index] = error
            else:
                by_pattern.setdefault(binding.pattern, []).append(index)
        with self._lock:
            for pattern, indexes in by_pattern.items():
                entries = frozenset(bindings[i].entry for i in indexes)

                def add(current: frozenset[AccessControlEntry],
                        entries: frozenset[AccessControlEntry] = entries) -> frozenset[AccessControlEntry]:
                    return current | entries

                try:
                    if not all(is_valid_principal(entry.principal) for entry in entries):
                        raise UpdateError(f"an ACL of {pattern} names no principal type")
                    self._update(pattern, add)
                except Exception as exc:
                    log.warning("creating ACLs of %s failed: %s", pattern, exc)
                    for i in indexes:
                        results[i] = _server_error()
        return results

    def _delete_acls(self, filters: Sequence[AclBindingFilter]) -> list[DeleteResult]:
        deleted: dict[AclBinding, int] = {}
        """Each deleted ACL and the first filter that matched it."""
        errors: dict[AclBinding, KafkaError] = {}
        with self._lock:
            patterns = dict.fromkeys(self._cache)
            for binding_filter in filters:
                if binding_filter.pattern_filter.matches_at_most_one:
                    patterns.update(dict.fromkeys(binding_filter.pattern_filter.named_patterns()))
            for pattern in patterns:
                matching = [(i, f) for i, f in enumerate(filters) if f.pattern_filter.matches(pattern)]
                if not matching:
                    continue
                being_deleted: dict[AclBinding, int] = {}

                def change(current: frozenset[AccessControlEntry], pattern: ResourcePattern = pattern,
                           matching: list[tuple[int, AclBindingFilter]] = matching,
                           being_deleted: dict[AclBinding, int] = being_deleted) -> frozenset[AccessControlEntry]:
                    kept = set(current)
                    for entry in current:
                        index = next((i for i, f in matching if f.entry_filter.matches(entry)), None)
                        if index is not None:
                            binding = AclBinding(pattern, entry)
                            deleted.setdefault(binding, index)
                            being_deleted.setdefault(binding, index)
                            kept.discard(entry)
                    return frozenset(kept)

                try:
                    self._update(pattern, change)
                except Exception as exc:
                    log.warning("deleting ACLs of %s failed: %s", pattern, exc)
                    for binding in being_deleted:
                        errors.setdefault(binding, _server_error())
        results: list[DeleteResult] = [[] for _ in filters]
        for binding, index in deleted.items():
            results[index].append((binding, errors.get(binding)))
        return results

    def _update(self, pattern: ResourcePattern,
                change: Callable[[frozenset[AccessControlEntry]], frozenset[AccessControlEntry]]) -> None:
        """Kafka's ``updateResourceAcls`` (module docstring); the caller holds the lock."""
        current = self._cache.get(pattern) or self._read(pattern)
        retries = 0
        while (version := self._write(pattern, new := frozenset(change(current.acls)), current.zk_version)) is None:
            if retries == MAX_UPDATE_RETRIES:
                raise UpdateError(f"Failed to update ACLs for {pattern} after trying a maximum of "
                                  f"{MAX_UPDATE_RETRIES} times")
            retries += 1
            time.sleep((RETRY_BACKOFF_MS + random.randrange(RETRY_JITTER_MS)) / 1000)
            current = self._read(pattern)
        self._cache_put(pattern, VersionedAcls(new, version))
        if new != current.acls:
            log.info("updated ACLs of %s: %d ACLs (znode version %d)", pattern, len(new), version)
            kind = pattern.pattern_type.name
            self.zk.create(f"{md.acl_change_path(kind)}/{md.ACL_CHANGE_PREFIX}",
                           md.encode_acl_change(resource_type=pattern.resource_type.name, name=pattern.name,
                                                pattern_type=kind), sequence=True, makepath=True)

    def _write(self, pattern: ResourcePattern, acls: frozenset[AccessControlEntry], version: int) -> int | None:
        """Write ``acls`` if the znode is still at ``version``: the new version (:data:`ABSENT` once deleted),
        None after a lost race."""
        path = _znode_path(pattern)
        try:
            if not acls:
                if version != ABSENT:
                    self.zk.delete(path, version=version)
                return ABSENT
            data = md.encode_acls(_to_znode(entry) for entry in sorted(acls, key=_order))
            if version == ABSENT:
                self.zk.create(path, data, makepath=True)
                return 0
            return self.zk.set(path, data, version=version).version
        except NoNodeError:
            return ABSENT if not acls else None
        except (BadVersionError, NodeExistsError):
            return None


def _order(entry: AccessControlEntry) -> tuple[Any, ...]:
    """The order ACLs are written in (Kafka's is its hash set's): stable, so equal sets write equal znodes."""
    return entry.principal, entry.host, entry.operation, entry.permission_type
