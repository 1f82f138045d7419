"""A KafkaUser: its Kafka identity, the ACLs and quotas it asks for, and the Secret that hands out its credentials.

Identity. The Kafka user name is ``metadata.name``. A ``scram-sha-512`` user authenticates with a password and is
the principal ``User:<name>``; a ``tls`` user presents a certificate ``CN=<name>`` signed by the cluster's clients
CA and is ``User:CN=<name>`` (Kafka's default ``ssl.principal.mapping.rules``). Quotas belong to the principal's
name (``alice`` or ``CN=alice``), as Kafka's user quota entity is the principal name.

ACLs. Each rule of ``spec.authorization.acls`` (Strimzi's shape: a resource, operations, host, allow/deny) becomes
one :class:`AclBinding` per operation, in Kafka's enum names (``TOPIC``, ``PREFIXED``, ``IDEMPOTENT_WRITE``,
``ALLOW``): plain hashable values, so the reconcile diffs desired and described bindings as sets. The ``cluster``
resource is always the literal ``kafka-cluster``. An operation a resource type does not have (``Write`` on a
group) is refused as Kafka's ``AclEntry.supportedOperations`` refuses it; ``All`` is accepted everywhere, as
``kafka-acls`` accepts it.

Secret. Named after the KafkaUser and owned by it (garbage-collected with it): ``username``, ``password`` and the
``sasl.jaas.config`` line (SCRAM), or ``user.crt``, ``user.key`` and a PKCS #12 key store ``user.p12`` with its
password ``user.password`` (TLS, for Java clients); and, either way, the cluster CA ``ca.crt`` and, per listener of
the cluster's ``status.listeners``, ``bootstrap.<listener>`` and ``security.protocol.<listener>``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .. import API_VERSION
from . import names
from .spec import AUTHENTICATION_TYPES

USER_KIND = "KafkaUser"
SCRAM = "scram-sha-512"
TLS = "tls"
SCRAM_MECHANISM = "SCRAM-SHA-512"
"""The one SCRAM mechanism a KafkaUser gets credentials for."""
SCRAM_ITERATIONS = 4096
ROTATE_PASSWORD_ANNOTATION = "kopfka.io/rotate-password"
"""On a SCRAM KafkaUser: generate a new password at the next reconcile (the operator then removes it)."""
CLUSTER_RESOURCE_NAME = "kafka-cluster"
"""The name of Kafka's one cluster resource."""

RESOURCE_TYPES = {"topic": "TOPIC", "group": "GROUP", "cluster": "CLUSTER", "transactionalId": "TRANSACTIONAL_ID"}
"""``resource.type`` in the CRD → Kafka's ``ResourceType``."""
PATTERN_TYPES = {"literal": "LITERAL", "prefix": "PREFIXED"}
"""``resource.patternType`` in the CRD → Kafka's ``PatternType``."""
PERMISSIONS = {"allow": "ALLOW", "deny": "DENY"}
"""An ACL rule's ``type`` → Kafka's ``AclPermissionType``."""
OPERATIONS = {
    "All": "ALL",
    "Read": "READ",
    "Write": "WRITE",
    "Create": "CREATE",
    "Delete": "DELETE",
    "Alter": "ALTER",
    "Describe": "DESCRIBE",
    "ClusterAction": "CLUSTER_ACTION",
    "DescribeConfigs": "DESCRIBE_CONFIGS",
    "AlterConfigs": "ALTER_CONFIGS",
    "IdempotentWrite": "IDEMPOTENT_WRITE",
}
"""An operation as the CRD (and Kafka's ACL text) names it → Kafka's ``AclOperation``."""
SUPPORTED_OPERATIONS = {
    "TOPIC": frozenset(
        {"READ", "WRITE", "CREATE", "DESCRIBE", "DELETE", "ALTER", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}
    ),
    "GROUP": frozenset({"READ", "DESCRIBE", "DELETE"}),
    "CLUSTER": frozenset(
        {"CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"}
    ),
    "TRANSACTIONAL_ID": frozenset({"DESCRIBE", "WRITE"}),
}
"""Kafka's ``AclEntry.supportedOperations`` for the resource types a KafkaUser names (``ALL`` besides)."""
QUOTA_KEYS = {
    "producerByteRate": "producer_byte_rate",
    "consumerByteRate": "consumer_byte_rate",
    "requestPercentage": "request_percentage",
}
"""``spec.quotas`` keys → Kafka's client quota keys."""

MAX_CN_LENGTH = 64
"""X.509's upper bound on a common name (``ub-common-name``): a TLS user's name must fit."""
_USER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
"""A Kubernetes object name (DNS subdomain), which also needs no escaping in a principal or a certificate subject."""

INVALID_USER_NAME = "InvalidUserName"
INVALID_AUTHENTICATION = "InvalidAuthentication"
INVALID_ACL = "InvalidAcl"
UNSUPPORTED_OPERATION = "UnsupportedOperation"
INVALID_QUOTA = "InvalidQuota"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One Kafka ACL, every field in Kafka's names: what Kafka's DescribeAcls returns, one per operation."""

    resource_type: str
    """``TOPIC``, ``GROUP``, ``CLUSTER`` or ``TRANSACTIONAL_ID``."""
    resource_name: str
    pattern_type: str
    """``LITERAL`` or ``PREFIXED``."""
    principal: str
    host: str
    operation: str
    """``READ``, ``IDEMPOTENT_WRITE``, ``ALL``…"""
    permission: str
    """``ALLOW`` or ``DENY``."""

    def __str__(self) -> str:
        return (
            f"{self.permission} {self.principal} {self.operation} on {self.resource_type} "
            f"{self.pattern_type.lower()} {self.resource_name!r} from {self.host}"
        )


@dataclass(frozen=True)
class AclRule:
    """One entry of ``spec.authorization.acls``, as written (validated by :func:`validate`)."""

    resource_type: str
    """``topic``, ``group``, ``cluster`` or ``transactionalId``."""
    resource_name: str | None = None
    pattern_type: str = "literal"
    operations: tuple[str, ...] = ()
    """Kafka's operation names: ``Read``, ``IdempotentWrite``…"""
    host: str = "*"
    permission: str = "allow"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> AclRule:
        resource = raw.get("resource") or {}
        operations = raw.get("operations")
        if operations is None and raw.get("operation"):  # Strimzi's older, single-operation spelling
            operations = [raw["operation"]]
        name = resource.get("name")
        return cls(
            resource_type=str(resource.get("type") or ""),
            resource_name=str(name) if name is not None else None,
            pattern_type=str(resource.get("patternType") or "literal"),
            operations=tuple(str(op) for op in operations or ()),
            host=str(raw.get("host") or "*"),
            permission=str(raw.get("type") or "allow"),
        )


@dataclass(frozen=True)
class UserSpec:
    """A KafkaUser: identity (name, namespace, uid for the owner reference) and its parsed spec."""

    name: str
    namespace: str
    cluster: str
    authentication: str
    uid: str = ""
    authorization_type: str | None = None
    """``simple`` (Kafka's ACL authorizer), or None when ``spec.authorization`` is absent: then no ACLs."""
    acls: tuple[AclRule, ...] = ()
    quotas: Mapping[str, Any] = field(default_factory=dict)
    """``spec.quotas`` as written (CRD keys)."""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_resource(cls, body: Mapping[str, Any]) -> UserSpec:
        meta = body.get("metadata", {})
        spec = body.get("spec") or {}
        authentication = spec.get("authentication") or {}
        if isinstance(authentication, Mapping):
            authentication = authentication.get("type")
        authorization = spec.get("authorization")
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta.get("uid", ""),
            cluster=str(spec.get("cluster") or ""),
            authentication=str(authentication or ""),
            authorization_type=str(authorization.get("type") or "simple") if authorization else None,
            acls=tuple(AclRule.parse(rule) for rule in (authorization or {}).get("acls") or ()),
            quotas=dict(spec.get("quotas") or {}),
            annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        )

    @property
    def username(self) -> str:
        """The Kafka user name: what a SCRAM client logs in as, and the certificate's CN."""
        return self.name

    @property
    def principal_name(self) -> str:
        """The name in the principal: ``alice`` (SCRAM) or ``CN=alice`` (TLS); also the user quota entity."""
        return f"CN={self.name}" if self.authentication == TLS else self.name

    @property
    def principal(self) -> str:
        return principal(self.principal_name)

    @property
    def secret_name(self) -> str:
        return self.name

    @property
    def rotate_password(self) -> bool:
        return ROTATE_PASSWORD_ANNOTATION in self.annotations

    def acl_bindings(self) -> frozenset[AclBinding]:
        """The ACLs this user should have (Kafka's names); none without ``spec.authorization``."""
        if self.authorization_type is None:
            return frozenset()
        bindings = set()
        for rule in self.acls:
            resource_type = RESOURCE_TYPES[rule.resource_type]
            cluster = resource_type == "CLUSTER"
            for operation in rule.operations:
                bindings.add(
                    AclBinding(
                        resource_type=resource_type,
                        resource_name=CLUSTER_RESOURCE_NAME if cluster else str(rule.resource_name),
                        pattern_type="LITERAL" if cluster else PATTERN_TYPES[rule.pattern_type],
                        principal=self.principal,
                        host=rule.host,
                        operation=OPERATIONS[operation],
                        permission=PERMISSIONS[rule.permission],
                    )
                )
        return frozenset(bindings)

    def kafka_quotas(self) -> dict[str, float]:
        """``spec.quotas`` in Kafka's keys (``producer_byte_rate``…) and value type (a double)."""
        return {QUOTA_KEYS[key]: float(value) for key, value in self.quotas.items() if value is not None}


def principal(principal_name: str) -> str:
    return f"User:{principal_name}"


def is_tls_principal_name(principal_name: str) -> bool:
    """A TLS user's principal name (``CN=alice``) as opposed to a SCRAM user's (``alice``, which has no ``=``)."""
    return principal_name.startswith("CN=")


def validate(spec: UserSpec) -> tuple[str, str] | None:
    """``(reason, message)`` when the spec cannot be applied as written, else None. Only the spec is judged (the
    webhook calls this too); the cluster's state is the reconcile's business."""
    if spec.authentication not in AUTHENTICATION_TYPES:
        return INVALID_AUTHENTICATION, (
            f"authentication.type {spec.authentication!r} is not one of {', '.join(AUTHENTICATION_TYPES)}"
        )
    if not _USER_NAME.match(spec.name):
        return INVALID_USER_NAME, f"user name {spec.name!r} must be lowercase letters, digits, '-' and '.'"
    if spec.authentication == TLS and len(spec.name) > MAX_CN_LENGTH:
        return INVALID_USER_NAME, (
            f"a tls user's name is its certificate's CN, at most {MAX_CN_LENGTH} characters: {spec.name!r} "
            f"has {len(spec.name)}"
        )
    if spec.authorization_type not in (None, "simple"):
        return INVALID_ACL, f"authorization.type {spec.authorization_type!r} is not supported (only simple)"
    for index, rule in enumerate(spec.acls):
        refusal = _validate_rule(rule, f"acls[{index}]")
        if refusal:
            return refusal
    for key, value in spec.quotas.items():
        if key not in QUOTA_KEYS:
            return INVALID_QUOTA, f"unknown quota {key!r} (known: {', '.join(QUOTA_KEYS)})"
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return INVALID_QUOTA, f"quota {key} must be a number ≥ 0, not {value!r}"
    return None


def _validate_rule(rule: AclRule, where: str) -> tuple[str, str] | None:
    resource_type = RESOURCE_TYPES.get(rule.resource_type)
    if resource_type is None:
        return INVALID_ACL, f"{where}: resource type {rule.resource_type!r} is not one of {', '.join(RESOURCE_TYPES)}"
    if rule.pattern_type not in PATTERN_TYPES:
        return INVALID_ACL, f"{where}: patternType {rule.pattern_type!r} is not one of {', '.join(PATTERN_TYPES)}"
    if resource_type == "CLUSTER":
        if rule.resource_name not in (None, CLUSTER_RESOURCE_NAME) or rule.pattern_type != "literal":
            return INVALID_ACL, f"{where}: the cluster resource is the literal {CLUSTER_RESOURCE_NAME!r}"
    elif not rule.resource_name:
        return INVALID_ACL, f"{where}: a {rule.resource_type} resource needs a name"
    elif "/" in rule.resource_name:
        return INVALID_ACL, f"{where}: resource name {rule.resource_name!r} may not contain '/'"
    if rule.permission not in PERMISSIONS:
        return INVALID_ACL, f"{where}: type {rule.permission!r} is not one of {', '.join(PERMISSIONS)}"
    if not rule.host:
        return INVALID_ACL, f"{where}: host may not be empty ('*' is any host)"
    if not rule.operations:
        return INVALID_ACL, f"{where}: no operations"
    for operation in rule.operations:
        kafka_operation = OPERATIONS.get(operation)
        if kafka_operation is None:
            return INVALID_ACL, f"{where}: unknown operation {operation!r} (known: {', '.join(OPERATIONS)})"
        if kafka_operation != "ALL" and kafka_operation not in SUPPORTED_OPERATIONS[resource_type]:
            allowed = sorted(name for name, value in OPERATIONS.items() if value in SUPPORTED_OPERATIONS[resource_type])
            return UNSUPPORTED_OPERATION, (
                f"{where}: Kafka has no {operation} operation on a {rule.resource_type} resource "
                f"(it has All, {', '.join(allowed)})"
            )
    return None


# --- credentials and their Secret ------------------------------------------------------------


@dataclass(frozen=True)
class ScramCredentials:
    password: str


@dataclass(frozen=True)
class TlsCredentials:
    cert_pem: str
    key_pem: str
    p12: bytes
    """PKCS #12 key store of the key and certificate (for Java clients)."""
    p12_password: str


Credentials = ScramCredentials | TlsCredentials


def jaas_config(username: str, password: str) -> str:
    """The client's ``sasl.jaas.config`` line; quotes and backslashes in the values are escaped."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f"username={quoted(username)} password={quoted(password)};"
    )


def pkcs12_keystore(*, alias: str, cert_pem: str, key_pem: str, ca_cert_pem: str | None, password: str) -> bytes:
    """A PKCS #12 key store (AES-256, SHA-256 MAC: what Java 11+ reads) of the key and its certificate chain."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a {type(key).__name__} cannot go in a PKCS #12 key store")
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    chain = x509.load_pem_x509_certificates(ca_cert_pem.encode()) if ca_cert_pem else None
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(alias.encode(), key, cert, chain, encryption)


def secret_data(
    spec: UserSpec,
    credentials: Credentials,
    *,
    listeners: Sequence[Mapping[str, Any]] = (),
    ca_cert_pem: str | None = None,
) -> dict[str, bytes]:
    """The user Secret's data (values as bytes). ``listeners`` is the KafkaCluster's ``status.listeners``."""
    data: dict[str, bytes] = {}
    if isinstance(credentials, ScramCredentials):
        data["username"] = spec.username.encode()
        data["password"] = credentials.password.encode()
        data["sasl.jaas.config"] = jaas_config(spec.username, credentials.password).encode()
    else:
        data["user.crt"] = credentials.cert_pem.encode()
        data["user.key"] = credentials.key_pem.encode()
        data["user.p12"] = credentials.p12
        data["user.password"] = credentials.p12_password.encode()
    if ca_cert_pem:
        data["ca.crt"] = ca_cert_pem.encode()
    for listener in listeners:
        name, bootstrap = listener.get("name"), listener.get("bootstrapServers")
        if not name or not bootstrap:
            continue  # an external listener whose addresses Kubernetes has not given yet
        data[f"bootstrap.{name}"] = str(bootstrap).encode()
        if listener.get("securityProtocol"):
            data[f"security.protocol.{name}"] = str(listener["securityProtocol"]).encode()
    return data


def owner_reference(spec: UserSpec) -> dict[str, Any]:
    """Makes the KafkaUser the controller of its Secret, so deleting the user garbage-collects the Secret."""
    return {
        "apiVersion": API_VERSION,
        "kind": USER_KIND,
        "name": spec.name,
        "uid": spec.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def secret_labels(spec: UserSpec) -> dict[str, str]:
    return {names.CLUSTER_LABEL: spec.cluster, names.MANAGED_BY_LABEL: names.MANAGED_BY}


def user_secret(spec: UserSpec, data: Mapping[str, bytes]) -> dict[str, Any]:
    """The user Secret manifest."""
    meta: dict[str, Any] = {"name": spec.secret_name, "namespace": spec.namespace, "labels": secret_labels(spec)}
    if spec.uid:
        meta["ownerReferences"] = [owner_reference(spec)]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode() for key, value in sorted(data.items())},
    }
