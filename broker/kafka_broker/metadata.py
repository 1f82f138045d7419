"""The cluster's metadata in ZooKeeper, in Apache Kafka's own (2.8, ZooKeeper-mode) layout.

This is the one module that knows the znode paths and their JSON formats, so Kafka's
ZooKeeper-era tools can read what kopfka writes and kopfka can read what they write.
Readers tolerate unknown keys. The operator imports this module too; it depends on nothing
else in the broker.

Layout (each znode's JSON is written by the ``encode`` of its dataclass below, as Kafka 2.8 writes it)::

    /brokers/ids/<id>                             ephemeral broker registration
    /brokers/topics/<t>                           replica assignment (+ topic_id)
    /brokers/topics/<t>/partitions/<p>/state      leader, leader_epoch, isr, controller_epoch
    /controller, /controller_epoch                controller election
    /config/topics/<t>, /config/changes/...       topic config overrides and change notices
    /config/brokers/<id>, /config/brokers/<default>  dynamic broker configs (one broker; the cluster default)
    /config/users/<u>, /config/clients/<c>,       client quotas (and, under users, SCRAM credentials);
    /config/users/<u>/clients/<c>                 <default> names the default entity
    /admin/delete_topics/<t>                      deletion requests
    /admin/delete_topics/<t>/<id>                 broker <id> dropped its replicas of <t> (kopfka's StopReplica answer)
    /admin/reassign_partitions                    reassignment plan
    /admin/preferred_replica_election             preferred leader election requests
    /isr_change_notification/isr_change_<seq>     ISR change notices
    /cluster/id                                   cluster id
    /latest_producer_id_block                     producer id block allocation
    /kafka-acl/<ResourceType>/<name>              literal ACLs of a resource (AclAuthorizer)
    /kafka-acl-extended/prefixed/<Type>/<name>    prefixed ACLs
    /kafka-acl-changes/acl_changes_<seq>,         ACL change notices (literal, extended)
    /kafka-acl-extended-changes/acl_changes_<seq>

With ``zookeeper.set.acl=true`` every znode is created with ALL for its creator and READ for everyone, except
below the :data:`SENSITIVE_ROOT_PATHS` (SCRAM credentials, dynamic broker configs with their passwords, delegation
tokens), which only their creator may read (Kafka's ``ZkData.defaultAcls``; :func:`sensitive_path`).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BROKER_IDS_PATH = "/brokers/ids"
BROKER_TOPICS_PATH = "/brokers/topics"
CONTROLLER_PATH = "/controller"
CONTROLLER_EPOCH_PATH = "/controller_epoch"
CONFIG_TOPICS_PATH = "/config/topics"
CONFIG_CHANGES_PATH = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
CONFIG_BROKERS_PATH = "/config/brokers"
CONFIG_USERS_PATH = "/config/users"
CONFIG_CLIENTS_PATH = "/config/clients"
DEFAULT_ENTITY = "<default>"
"""The (sanitized) name of a default quota entity: ``/config/users/<default>``, ``/config/clients/<default>``."""
DELETE_TOPICS_PATH = "/admin/delete_topics"
REASSIGN_PARTITIONS_PATH = "/admin/reassign_partitions"
PREFERRED_REPLICA_ELECTION_PATH = "/admin/preferred_replica_election"
ISR_CHANGE_NOTIFICATION_PATH = "/isr_change_notification"
ISR_CHANGE_PREFIX = "isr_change_"
CLUSTER_ID_PATH = "/cluster/id"
PRODUCER_ID_BLOCK_PATH = "/latest_producer_id_block"

#: Paths every cluster has; created (empty) at broker start-up, as Kafka does.
PERSISTENT_PATHS = (
    BROKER_IDS_PATH,
    BROKER_TOPICS_PATH,
    CONFIG_TOPICS_PATH,
    CONFIG_CHANGES_PATH,
    CONFIG_BROKERS_PATH,
    CONFIG_USERS_PATH,
    CONFIG_CLIENTS_PATH,
    "/admin",
    DELETE_TOPICS_PATH,
    ISR_CHANGE_NOTIFICATION_PATH,
    "/cluster",
)

CONSUMERS_PATH = "/consumers"
"""The ZooKeeper-era consumers' offsets: left open to everyone even with secure ACLs (Kafka's rule)."""
DELEGATION_TOKENS_PATH = "/delegation_token/tokens"
SENSITIVE_ROOT_PATHS = (CONFIG_USERS_PATH, CONFIG_BROKERS_PATH, DELEGATION_TOKENS_PATH)
"""Znodes at and below these hold secrets: with secure ACLs nobody but their creator may even read them."""


def sensitive_path(path: str) -> bool:
    """Whether ``path`` is at or below a :data:`SENSITIVE_ROOT_PATHS` entry, as Kafka's ``ZkData.sensitivePath``
    decides it: by prefix (so ``/config/usersX`` would count too)."""
    return path.startswith(SENSITIVE_ROOT_PATHS)


NO_LEADER = -1


def split_chroot(connect: str) -> tuple[str, str]:
    """``h1:2181,h2:2181/kafka`` → (``h1:2181,h2:2181``, ``/kafka``); the chroot is ``""`` when absent."""
    hosts, slash, chroot = connect.partition("/")
    return hosts, (slash + chroot).rstrip("/") if chroot else ""


def broker_path(broker_id: int) -> str:
    return f"{BROKER_IDS_PATH}/{broker_id}"


def topic_path(topic: str) -> str:
    return f"{BROKER_TOPICS_PATH}/{topic}"


def partition_state_path(topic: str, partition: int) -> str:
    return f"{BROKER_TOPICS_PATH}/{topic}/partitions/{partition}/state"


def topic_config_path(topic: str) -> str:
    return f"{CONFIG_TOPICS_PATH}/{topic}"


def delete_topic_path(topic: str) -> str:
    return f"{DELETE_TOPICS_PATH}/{topic}"


def deletion_ack_path(topic: str, broker_id: int) -> str:
    """Broker ``broker_id`` holds nothing of ``topic``, marked for deletion (an empty znode under the request;
    the controller deletes the topic once every live broker with a replica wrote one, as Kafka's waits for
    every replica's StopReplica answer). Kafka's tools read only the children of ``/admin/delete_topics``."""
    return f"{DELETE_TOPICS_PATH}/{topic}/{broker_id}"


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _loads(data: bytes | None) -> Any:
    if not data:
        return None
    return json.loads(data.decode())


# --- brokers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    """What ``/brokers/ids/<id>`` says: where clients reach the broker, on each of its listeners.

    ``endpoints`` are ``NAME://host:port``, one per advertised listener, and ``security_protocols`` maps each
    listener name to its protocol. ``host``/``port`` are the PLAINTEXT listener's, as Kafka writes them for old
    clients ('' and -1 when the broker has none)."""

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    endpoints: tuple[str, ...] = ()
    http_port: int | None = None
    security_protocols: tuple[tuple[str, str], ...] = ()
    """(listener name, security protocol) of each endpoint; empty: every endpoint is PLAINTEXT."""

    @classmethod
    def for_listeners(cls, broker_id: int, endpoints: Sequence[tuple[str, str, str, int]], *,
                      rack: str | None = None, http_port: int | None = None) -> BrokerRegistration:
        """A registration from (listener name, protocol, host, port) of each advertised listener."""
        plaintext = next(((host, port) for name, protocol, host, port in endpoints
                          if name == "PLAINTEXT" and protocol == "PLAINTEXT"), ("", -1))
        return cls(broker_id=broker_id, host=plaintext[0], port=plaintext[1], rack=rack,
                   endpoints=tuple(f"{name}://{_bracketed(host)}:{port}" for name, _, host, port in endpoints),
                   http_port=http_port,
                   security_protocols=tuple((name, protocol) for name, protocol, _, _ in endpoints))

    def address(self, listener: str) -> tuple[str, int] | None:
        """(host, port) of the named listener, or None when the broker has no such listener."""
        if not self.endpoints:
            return (self.host, self.port) if listener == "PLAINTEXT" else None
        for endpoint in self.endpoints:
            name, sep, hostport = endpoint.partition("://")
            if sep and name.upper() == listener:
                host, _, port = hostport.rpartition(":")
                return host.strip("[]"), int(port)
        return None

    def encode(self) -> bytes:
        endpoints = list(self.endpoints) or [f"PLAINTEXT://{self.host}:{self.port}"]
        protocols = dict(self.security_protocols) or {"PLAINTEXT": "PLAINTEXT"}
        data: dict[str, Any] = {
            "version": 5,
            "host": self.host or None,
            "port": self.port,
            "endpoints": endpoints,
            "listener_security_protocol_map": protocols,
            "jmx_port": -1,
            "timestamp": _now_ms(),
            "features": {},
        }
        if self.rack is not None:
            data["rack"] = self.rack
        if self.http_port is not None:
            data["kopfka_http_port"] = self.http_port
        return _dumps(data)

    @classmethod
    def decode(cls, broker_id: int, data: bytes) -> BrokerRegistration:
        obj = _loads(data) or {}
        endpoints = tuple(obj.get("endpoints") or ())
        protocols = obj.get("listener_security_protocol_map") or {}
        return cls(
            broker_id=broker_id,
            host=obj.get("host") or "",
            port=int(obj.get("port") or -1),
            rack=obj.get("rack"),
            endpoints=endpoints,
            http_port=obj.get("kopfka_http_port"),
            security_protocols=tuple((str(k).upper(), str(v)) for k, v in protocols.items()),
        )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- topics and partitions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    """``/brokers/topics/<t>``: replicas of every partition, plus reassignment bookkeeping."""

    partitions: dict[int, list[int]]
    topic_id: str | None = None
    adding_replicas: dict[int, list[int]] = field(default_factory=dict)
    removing_replicas: dict[int, list[int]] = field(default_factory=dict)

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "version": 2 if self.topic_id is None else 3,
            "partitions": {str(p): list(r) for p, r in sorted(self.partitions.items())},
            "adding_replicas": {str(p): list(r) for p, r in sorted(self.adding_replicas.items())},
            "removing_replicas": {str(p): list(r) for p, r in sorted(self.removing_replicas.items())},
        }
        if self.topic_id is not None:
            data["topic_id"] = self.topic_id
        return _dumps(data)

    @classmethod
    def decode(cls, data: bytes) -> TopicAssignment:
        obj = _loads(data) or {}

        def int_keys(m: Mapping[str, Iterable[int]] | None) -> dict[int, list[int]]:
            return {int(p): [int(b) for b in r] for p, r in (m or {}).items()}

        return cls(
            partitions=int_keys(obj.get("partitions")),
            topic_id=obj.get("topic_id"),
            adding_replicas=int_keys(obj.get("adding_replicas")),
            removing_replicas=int_keys(obj.get("removing_replicas")),
        )


@dataclass(frozen=True, slots=True)
class PartitionState:
    """``/brokers/topics/<t>/partitions/<p>/state``: the partition's leader, epoch and ISR."""

    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int

    def encode(self) -> bytes:
        return _dumps(
            {
                "version": 1,
                "leader": self.leader,
                "leader_epoch": self.leader_epoch,
                "controller_epoch": self.controller_epoch,
                "isr": list(self.isr),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> PartitionState:
        obj = _loads(data) or {}
        return cls(
            leader=int(obj.get("leader", NO_LEADER)),
            leader_epoch=int(obj.get("leader_epoch", 0)),
            isr=tuple(int(b) for b in obj.get("isr", ())),
            controller_epoch=int(obj.get("controller_epoch", 0)),
        )


def encode_topic_config(config: Mapping[str, str]) -> bytes:
    return _dumps({"version": 1, "config": dict(config)})


def decode_topic_config(data: bytes | None) -> dict[str, str]:
    obj = _loads(data) or {}
    return {str(k): str(v) for k, v in (obj.get("config") or {}).items()}


def broker_config_entity(broker_id: int | None) -> str:
    """The entity of a broker's dynamic configs (``None``: the cluster-wide default), as a change notice's
    ``entity_path`` names it after ``brokers/``: ``"1"`` or ``"<default>"``."""
    return DEFAULT_ENTITY if broker_id is None else str(broker_id)


def broker_config_path(broker_id: int | None) -> str:
    """``/config/brokers/<id>``, or ``/config/brokers/<default>`` for ``None``: ``{"version":1,"config":{..}}``."""
    return f"{CONFIG_BROKERS_PATH}/{broker_config_entity(broker_id)}"


def encode_config_change(entity_path: str) -> bytes:
    return _dumps({"version": 2, "entity_path": entity_path})


# --- client quota entities -------------------------------------------------------------------


def sanitize_entity_name(name: str | None) -> str:
    """A user or client id as its znode name (Kafka's ``Sanitizer``: URL-encoded as Java's ``URLEncoder``
    does, with ``*`` and space as ``%2A`` and ``%20``); None, the default entity, is ``<default>``."""
    if name is None:
        return DEFAULT_ENTITY
    return urllib.parse.quote(name, safe="").replace("~", "%7E")


def desanitize_entity_name(sanitized: str) -> str | None:
    """The inverse of :func:`sanitize_entity_name` (``<default>`` → None)."""
    if sanitized == DEFAULT_ENTITY:
        return None
    return urllib.parse.unquote_plus(sanitized)


def quota_entity_path(user: str | None, client_id: str | None) -> str:
    """The entity path (``users/<u>``, ``clients/<c>``, ``users/<u>/clients/<c>``) of a quota entity given by
    *sanitized* names, None for a part the entity does not have; as ``/config/changes`` notices name it."""
    if user is not None:
        return f"users/{user}" if client_id is None else f"users/{user}/clients/{client_id}"
    if client_id is None:
        raise ValueError("a quota entity has a user, a client id or both")
    return f"clients/{client_id}"


def config_entity_znode(entity_path: str) -> str:
    """``users/alice`` → ``/config/users/alice``."""
    return f"/config/{entity_path}"


def user_clients_path(user: str) -> str:
    """``/config/users/<user>/clients``: the parent of the user's per-client-id quotas (sanitized name)."""
    return f"{CONFIG_USERS_PATH}/{user}/clients"


encode_entity_config = encode_topic_config
"""Every ``/config/<type>/<name>`` znode has the topic config's form: ``{"version":1,"config":{...}}``."""
decode_entity_config = decode_topic_config


# --- controller ------------------------------------------------------------------------------


def encode_controller(broker_id: int) -> bytes:
    return _dumps({"version": 1, "brokerid": broker_id, "timestamp": _now_ms()})


def decode_controller(data: bytes | None) -> int:
    obj = _loads(data)
    return int(obj["brokerid"]) if obj else NO_LEADER


def encode_controller_epoch(epoch: int) -> bytes:
    return str(epoch).encode()


def decode_controller_epoch(data: bytes | None) -> int:
    return int(data.decode()) if data else 0


# --- admin requests --------------------------------------------------------------------------


def encode_partition_list(partitions: Iterable[tuple[str, int]]) -> bytes:
    """The ``{"version":1,"partitions":[{"topic":..,"partition":..}]}`` form used by several znodes."""
    return _dumps({"version": 1, "partitions": [{"topic": t, "partition": p} for t, p in partitions]})


def decode_partition_list(data: bytes | None) -> list[tuple[str, int]]:
    obj = _loads(data) or {}
    return [(str(e["topic"]), int(e["partition"])) for e in obj.get("partitions", ())]


def encode_reassignment(plan: Mapping[tuple[str, int], list[int]]) -> bytes:
    return _dumps(
        {
            "version": 1,
            "partitions": [
                {"topic": t, "partition": p, "replicas": list(r)} for (t, p), r in sorted(plan.items())
            ],
        }
    )


def decode_reassignment(data: bytes | None) -> dict[tuple[str, int], list[int]]:
    obj = _loads(data) or {}
    return {
        (str(e["topic"]), int(e["partition"])): [int(b) for b in e["replicas"]]
        for e in obj.get("partitions", ())
    }


# --- cluster id and producer ids -------------------------------------------------------------


def new_cluster_id() -> str:
    """Kafka's cluster ids are url-safe base64 of a random UUID, without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def encode_cluster_id(cluster_id: str) -> bytes:
    return _dumps({"version": "1", "id": cluster_id})


def decode_cluster_id(data: bytes | None) -> str | None:
    obj = _loads(data)
    return str(obj["id"]) if obj else None


def new_topic_id() -> str:
    return new_cluster_id()


def topic_id_to_uuid(topic_id: str | None) -> uuid.UUID:
    """Topic ids are stored as Kafka's base64 text; the wire protocol carries the 16 raw bytes."""
    if not topic_id:
        return uuid.UUID(int=0)
    padded = topic_id + "=" * (-len(topic_id) % 4)
    return uuid.UUID(bytes=base64.urlsafe_b64decode(padded))


@dataclass(frozen=True, slots=True)
class ProducerIdBlock:
    """``/latest_producer_id_block``: the last block of producer ids handed to a broker."""

    broker_id: int
    block_start: int
    block_end: int

    def encode(self) -> bytes:
        return _dumps(
            {
                "version": 1,
                "broker": self.broker_id,
                "block_start": str(self.block_start),
                "block_end": str(self.block_end),
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> ProducerIdBlock | None:
        obj = _loads(data)
        if not obj:
            return None
        return cls(int(obj["broker"]), int(obj["block_start"]), int(obj["block_end"]))


# --- ACLs (Kafka's ZkAclStore / ZkAclChangeStore) --------------------------------------------

ACL_PATH = "/kafka-acl"
"""Literal ACLs: ``/kafka-acl/<ResourceType>/<name>``."""
EXTENDED_ACL_PATH = "/kafka-acl-extended"
"""ACLs of other pattern types: ``/kafka-acl-extended/prefixed/<ResourceType>/<name>``."""
ACL_CHANGES_PATH = "/kafka-acl-changes"
EXTENDED_ACL_CHANGES_PATH = "/kafka-acl-extended-changes"
ACL_CHANGE_PREFIX = "acl_changes_"
ACL_PATTERN_TYPES = ("LITERAL", "PREFIXED")
"""The pattern types ACLs are stored for (Kafka's ``PatternType.isSpecific``), by their enum names."""
ACL_RESOURCE_TYPES = ("Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User")
"""The resource types ACLs are stored for, as their znodes name them (Kafka's ``SecurityUtils.resourceTypeName``)."""


def acl_store_path(pattern_type: str) -> str:
    """The root of the ACLs of a pattern type (``LITERAL``, ``PREFIXED``): ``/kafka-acl`` or
    ``/kafka-acl-extended/prefixed``."""
    if pattern_type not in ACL_PATTERN_TYPES:
        raise ValueError(f"no ACL store for pattern type {pattern_type}")
    return ACL_PATH if pattern_type == "LITERAL" else f"{EXTENDED_ACL_PATH}/{pattern_type.lower()}"


def acl_resource_path(pattern_type: str, resource_type: str, name: str) -> str:
    """``/kafka-acl/Topic/orders``: the znode of one resource pattern's ACLs (``resource_type`` as in
    :data:`ACL_RESOURCE_TYPES`; the name is not escaped: Kafka refuses names with ``/``)."""
    return f"{acl_store_path(pattern_type)}/{resource_type}/{name}"


def acl_change_path(pattern_type: str) -> str:
    """Where changes to the ACLs of a pattern type are announced: ``/kafka-acl-changes`` for LITERAL,
    ``/kafka-acl-extended-changes`` for the others; each notice is a sequential ``acl_changes_<seq>``."""
    if pattern_type not in ACL_PATTERN_TYPES:
        raise ValueError(f"no ACL change store for pattern type {pattern_type}")
    return ACL_CHANGES_PATH if pattern_type == "LITERAL" else EXTENDED_ACL_CHANGES_PATH


def acl_paths() -> list[str]:
    """The znodes Kafka's AclAuthorizer creates at start (``createAclPaths``): every store, its resource types,
    and both change paths."""
    paths: list[str] = []
    for pattern_type in ACL_PATTERN_TYPES:
        paths.append(acl_store_path(pattern_type))
        paths.extend(f"{acl_store_path(pattern_type)}/{resource_type}" for resource_type in ACL_RESOURCE_TYPES)
    return [*paths, ACL_CHANGES_PATH, EXTENDED_ACL_CHANGES_PATH]


@dataclass(frozen=True, slots=True)
class AclZnodeEntry:
    """One ACL of a resource znode, with the names Kafka writes (``SecurityUtils``' Pascal case)."""

    principal: str
    """``User:alice``."""
    permission_type: str
    """``Allow`` or ``Deny``."""
    operation: str
    """``Read``, ``Write``, ``IdempotentWrite``, ``All``…"""
    host: str
    """An address, or ``*``."""


def encode_acls(entries: Iterable[AclZnodeEntry]) -> bytes:
    """``{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*","operation":"Write"}],"version":1}``:
    the keys in the order Kafka 3.9 writes them (its Java ``HashMap``'s)."""
    return _dumps({"acls": [{"principal": e.principal, "permissionType": e.permission_type, "host": e.host,
                             "operation": e.operation} for e in entries], "version": 1})


def decode_acls(data: bytes | None) -> list[AclZnodeEntry]:
    """The ACLs of a resource znode (none for an empty one); ValueError for another version or a missing key."""
    obj = _loads(data)
    if not obj:
        return []
    if obj.get("version") != 1:
        raise ValueError(f"unsupported ACL znode version {obj.get('version')!r}")
    try:
        return [AclZnodeEntry(str(e["principal"]), str(e["permissionType"]), str(e["operation"]), str(e["host"]))
                for e in obj.get("acls") or ()]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed ACL znode: {exc}") from None


def encode_acl_change(*, resource_type: str, name: str, pattern_type: str) -> bytes:
    """The notice of a change to one resource pattern's ACLs (enum names: ``TOPIC``, ``PREFIXED``): the text
    ``TOPIC:orders`` for a literal pattern, ``{"version":1,"resourceType":"TOPIC","name":"orders-",
    "patternType":"PREFIXED"}`` for the others (Kafka's ``LiteralAclChangeStore`` / ``ExtendedAclChangeStore``)."""
    if pattern_type == "LITERAL":
        return f"{resource_type}:{name}".encode()
    return _dumps({"version": 1, "resourceType": resource_type, "name": name, "patternType": pattern_type})


def decode_acl_change(pattern_type: str, data: bytes | None) -> tuple[str, str, str]:
    """A notice under :func:`acl_change_path` of ``pattern_type`` → (resource type, name, pattern type) as
    written (Kafka reads the type names case-insensitively); ValueError when malformed."""
    text = (data or b"").decode()
    if pattern_type == "LITERAL":
        resource_type, colon, name = text.partition(":")
        if not colon:
            raise ValueError(f"expected a string in format ResourceType:ResourceName but got {text}")
        return resource_type, name, "LITERAL"
    obj = _loads(data)
    if not isinstance(obj, dict) or int(obj.get("version", 0)) > 1:
        raise ValueError(f"unsupported ACL change event {text!r}")
    try:
        return str(obj["resourceType"]), str(obj["name"]), str(obj["patternType"])
    except KeyError as exc:
        raise ValueError(f"malformed ACL change event {text!r}: no {exc}") from None
