"""Kafka's ACL model, without storage: resource patterns, access control entries, bindings and the filters that
match them, the checks a new binding must pass, and the authorization decision (KIP-140, KIP-290).

**Names and codes.** The four enums carry Kafka's wire codes; ``zk_name`` is the Pascal-case name Kafka writes
in ZooKeeper (``Topic``, ``TransactionalId``, ``IdempotentWrite``, ``Allow``) and :meth:`~_KafkaEnum.from_name`
reads it, or the enum name, back (``SecurityUtils``). An unknown code or name is ``UNKNOWN``, as Kafka's
``fromCode``/``fromString`` answer.

**Matching** (Kafka's ``ResourcePatternFilter.matches``, ``AccessControlEntryFilter.matches``). A filter's
resource type ANY matches every type; its pattern type ANY matches patterns of any type *by exact name*; MATCH
matches what would apply to a resource of that name: the literal pattern of the name, the literal wildcard
``*``, and every prefixed pattern the name starts with; LITERAL or PREFIXED match that pattern type by exact
name. A null name, principal or host matches any; operation and permission type ANY match any.

**Creating** (Kafka's ``AclApis.handleCreateAcls`` then ``AclAuthorizer.createAcls``): a CLUSTER binding must
name ``kafka-cluster``, a name must not be empty, no field may be UNKNOWN and the name must not contain ``/``
(it is a znode name) — each an INVALID_REQUEST, with Kafka's message. A principal that does not parse as
``Type:name`` fails at the write, as Kafka's does (UNKNOWN_SERVER_ERROR, every binding of that resource in the
request). ANY or MATCH values cannot make a :class:`ResourcePattern` or :class:`AccessControlEntry`
(ValueError, as Kafka's constructors throw). Kafka 3.9 in ZooKeeper mode accepts a prefixed ``*``: it is
stored and matches names starting with ``*``.

**Deciding** (Kafka's ``AclAuthorizer.authorizeAction``), for ``principal`` from ``host`` doing ``operation``
on a resource, given the ACLs that apply to it (:func:`applicable_patterns`: its literal name, the literal
``*``, and each prefixed pattern that is a prefix of its name)::

    1. a super user is allowed;
    2. no ACL at all applies       -> allowed iff allow.everyone.if.no.acl.found;
    3. a DENY ACL matches           -> denied (DENY wins);
    4. an ALLOW ACL matches         -> allowed; otherwise denied.

An ACL matches when its principal is the request's or ``User:*``, its host is the request's address or
``*``, and its operation is the one asked or ALL. An ALLOW of READ, WRITE, DELETE or ALTER also allows
DESCRIBE, and an ALLOW of ALTER_CONFIGS allows DESCRIBE_CONFIGS (a DENY implies nothing but itself).

**Deciding for some resource of a type** (Kafka's ``AclAuthorizer.authorizeByResourceType``, KIP-679: may the
principal do the operation on *any* resource of the type — InitProducerId of an idempotent producer asks it
for WRITE on topics). ACLs match as above but without implied operations; of the type's patterns::

    1. a super user is allowed;
    2. a matching DENY on the literal ``*``                   -> denied;
    3. allow.everyone.if.no.acl.found                          -> allowed;
    4. no matching DENY at all                                 -> allowed iff some matching ALLOW exists;
    5. allowed iff a matching ALLOW on a prefix that no DENY prefix dominates (a DENY prefix the ALLOW
       prefix starts with), or on a literal name that is ``*``, or that no DENY literal of the same name and
       no dominating DENY prefix covers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeVar

from kafka_broker.protocol.errors import ErrorCode, KafkaError

from .principal import USER_TYPE, KafkaPrincipal

__all__ = [
    "CLUSTER_NAME",
    "WILDCARD_HOST",
    "WILDCARD_PRINCIPAL",
    "WILDCARD_RESOURCE",
    "AccessControlEntry",
    "AccessControlEntryFilter",
    "AclBinding",
    "AclBindingFilter",
    "AclOperation",
    "AclPermissionType",
    "PatternType",
    "ResourcePattern",
    "ResourcePatternFilter",
    "ResourceType",
    "applicable_patterns",
    "authorize",
    "authorize_by_resource_type",
    "creation_error",
    "is_valid_principal",
]

WILDCARD_RESOURCE = "*"
"""A literal resource name that stands for every resource of its type."""
WILDCARD_HOST = "*"
WILDCARD_PRINCIPAL = f"{USER_TYPE}:*"
"""The principal of an ACL that applies to every principal."""
CLUSTER_NAME = "kafka-cluster"
"""The one name of the CLUSTER resource."""

E = TypeVar("E", bound="_KafkaEnum")


def _pascal(name: str) -> str:
    """``TRANSACTIONAL_ID`` → ``TransactionalId`` (Kafka's ``SecurityUtils.toPascalCase``)."""
    return "".join(part.capitalize() for part in name.split("_"))


class _KafkaEnum(IntEnum):
    """Kafka's ACL enums: a byte code each, UNKNOWN (0) for anything unrecognised."""

    @property
    def zk_name(self) -> str:
        """The name Kafka writes in ZooKeeper: ``Topic``, ``IdempotentWrite``, ``Allow``."""
        return _pascal(self.name)

    @classmethod
    def from_code(cls: type[E], code: int) -> E:
        """The member of a wire code; UNKNOWN for a code Kafka does not know."""
        try:
            return cls(code)
        except ValueError:
            return cls(0)

    @classmethod
    def from_name(cls: type[E], name: str) -> E:
        """The member named ``name`` in any case, in Pascal case (``TransactionalId``, ``transactionalid``, as
        Kafka's ``SecurityUtils`` reads znodes) or as the enum (``TRANSACTIONAL_ID``, as Kafka's ``fromString``
        reads change notices); UNKNOWN otherwise."""
        upper = name.upper()
        for member in cls:
            if upper in (member.name, member.zk_name.upper()):
                return member
        return cls(0)

    def __str__(self) -> str:
        return self.name


class ResourceType(_KafkaEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(_KafkaEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(_KafkaEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(_KafkaEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


IMPLIED_BY: dict[AclOperation, frozenset[AclOperation]] = {
    AclOperation.DESCRIBE: frozenset({AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE,
                                      AclOperation.DELETE, AclOperation.ALTER}),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}),
}
"""The operations whose ALLOW also allows the key (besides the key itself and ALL)."""


# --- bindings ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """The resources an ACL applies to: one type, a name, and how the name matches (LITERAL or PREFIXED)."""

    resource_type: ResourceType
    name: str
    pattern_type: PatternType

    def __post_init__(self) -> None:
        if self.resource_type == ResourceType.ANY:
            raise ValueError("resourceType must not be ANY")
        if self.pattern_type in (PatternType.MATCH, PatternType.ANY):
            raise ValueError(f"patternType must not be {self.pattern_type.name}")

    def __str__(self) -> str:
        return (f"ResourcePattern(resourceType={self.resource_type.name}, name={self.name}, "
                f"patternType={self.pattern_type.name})")

    @property
    def is_unknown(self) -> bool:
        return self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN


@dataclass(frozen=True, slots=True)
class AccessControlEntry:
    """Who (``User:alice``, or ``User:*``) may or may not (permission type) do what (operation) from where (an
    address, or ``*``)."""

    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType

    def __post_init__(self) -> None:
        if self.operation == AclOperation.ANY:
            raise ValueError("operation must not be ANY")
        if self.permission_type == AclPermissionType.ANY:
            raise ValueError("permissionType must not be ANY")

    def __str__(self) -> str:
        return (f"(principal={self.principal}, host={self.host}, operation={self.operation.name}, "
                f"permissionType={self.permission_type.name})")

    @property
    def is_unknown(self) -> bool:
        return self.operation == AclOperation.UNKNOWN or self.permission_type == AclPermissionType.UNKNOWN


@dataclass(frozen=True, slots=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry

    def __str__(self) -> str:
        return f"(pattern={self.pattern}, entry={self.entry})"


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourcePatternFilter:
    """Matches resource patterns (see the module docstring); ``name`` None matches any name."""

    resource_type: ResourceType
    name: str | None
    pattern_type: PatternType

    ANY: ClassVar[ResourcePatternFilter]

    def matches(self, pattern: ResourcePattern) -> bool:
        if self.resource_type not in (ResourceType.ANY, pattern.resource_type):
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, pattern.pattern_type):
            return False
        if self.name is None:
            return True
        if self.pattern_type in (PatternType.ANY, pattern.pattern_type):
            return self.name == pattern.name
        if pattern.pattern_type == PatternType.LITERAL:  # MATCH from here
            return pattern.name in (self.name, WILDCARD_RESOURCE)
        return self.name.startswith(pattern.name)

    @property
    def matches_at_most_one(self) -> bool:
        """Whether the filter names its patterns outright (so they can be looked up, not searched): a concrete
        type, a name, and a pattern type that is neither MATCH nor UNKNOWN."""
        return (self.resource_type not in (ResourceType.ANY, ResourceType.UNKNOWN) and self.name is not None
                and self.pattern_type not in (PatternType.MATCH, PatternType.UNKNOWN))

    def named_patterns(self) -> list[ResourcePattern]:
        """The patterns a filter that :attr:`matches_at_most_one` names: its own, or, for pattern type ANY, the
        literal and the prefixed pattern of its name (Kafka's ``filterToResources``)."""
        assert self.matches_at_most_one and self.name is not None
        kinds = (PatternType.LITERAL, PatternType.PREFIXED) if self.pattern_type == PatternType.ANY \
            else (self.pattern_type,)
        return [ResourcePattern(self.resource_type, self.name, kind) for kind in kinds]


ResourcePatternFilter.ANY = ResourcePatternFilter(ResourceType.ANY, None, PatternType.ANY)


@dataclass(frozen=True, slots=True)
class AccessControlEntryFilter:
    """Matches entries; ``principal``/``host`` None match any, operation and permission type ANY match any."""

    principal: str | None
    host: str | None
    operation: AclOperation
    permission_type: AclPermissionType

    ANY: ClassVar[AccessControlEntryFilter]

    def matches(self, entry: AccessControlEntry) -> bool:
        return ((self.principal is None or self.principal == entry.principal)
                and (self.host is None or self.host == entry.host)
                and self.operation in (AclOperation.ANY, entry.operation)
                and self.permission_type in (AclPermissionType.ANY, entry.permission_type))


AccessControlEntryFilter.ANY = AccessControlEntryFilter(None, None, AclOperation.ANY, AclPermissionType.ANY)


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    pattern_filter: ResourcePatternFilter
    entry_filter: AccessControlEntryFilter

    ANY: ClassVar[AclBindingFilter]

    def matches(self, binding: AclBinding) -> bool:
        return self.pattern_filter.matches(binding.pattern) and self.entry_filter.matches(binding.entry)


AclBindingFilter.ANY = AclBindingFilter(ResourcePatternFilter.ANY, AccessControlEntryFilter.ANY)


# --- creating ------------------------------------------------------------------------------------


def creation_error(binding: AclBinding) -> KafkaError | None:
    """Why Kafka refuses to create ``binding`` before writing it, or None (see the module docstring)."""
    pattern = binding.pattern
    if pattern.resource_type == ResourceType.CLUSTER and pattern.name != CLUSTER_NAME:
        return KafkaError(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}",
                          code=ErrorCode.INVALID_REQUEST)
    if not pattern.name:
        return KafkaError("Invalid empty resource name", code=ErrorCode.INVALID_REQUEST)
    if pattern.is_unknown or binding.entry.is_unknown or "/" in pattern.name:
        # Kafka's "ACL binding contains unknown elements" / "... invalid resource name", wrapped as this
        return KafkaError("Failed to create ACL", code=ErrorCode.INVALID_REQUEST)
    return None


def is_valid_principal(text: str) -> bool:
    """Whether ``text`` parses as a principal as Kafka's ``SecurityUtils.parseKafkaPrincipal`` parses it: not
    empty, with a colon (type and name may be empty)."""
    return ":" in text


# --- deciding ------------------------------------------------------------------------------------


def applicable_patterns(resource_type: ResourceType, name: str) -> list[ResourcePattern]:
    """The patterns whose ACLs apply to the resource ``name`` of ``resource_type``: its literal pattern, the
    literal wildcard, and the prefixed pattern of every non-empty prefix of the name (the name included)."""
    patterns = {ResourcePattern(resource_type, name, PatternType.LITERAL): None,
                ResourcePattern(resource_type, WILDCARD_RESOURCE, PatternType.LITERAL): None}
    for end in range(1, len(name) + 1):
        patterns[ResourcePattern(resource_type, name[:end], PatternType.PREFIXED)] = None
    return list(patterns)


def authorize(acls: Iterable[AccessControlEntry], *, principal: KafkaPrincipal, host: str,
              operation: AclOperation, super_users: Collection[KafkaPrincipal] = (),
              allow_everyone_if_no_acl_found: bool = False) -> bool:
    """Kafka's decision (the module docstring's algorithm) for ``principal`` from ``host`` doing ``operation``
    on a resource whose applicable ACLs are ``acls``."""
    if principal in super_users:
        return True
    acls = list(acls)
    if not acls:
        return allow_everyone_if_no_acl_found
    principals = (str(principal), WILDCARD_PRINCIPAL)

    def found(permission: AclPermissionType, operations: Collection[AclOperation]) -> bool:
        return any(acl.permission_type == permission and acl.principal in principals
                   and acl.host in (host, WILDCARD_HOST)
                   and (acl.operation in operations or acl.operation == AclOperation.ALL) for acl in acls)

    if found(AclPermissionType.DENY, (operation,)):
        return False
    return found(AclPermissionType.ALLOW, IMPLIED_BY.get(operation, (operation,)))


def authorize_by_resource_type(patterns: Mapping[ResourcePattern, Collection[AccessControlEntry]], *,
                               principal: KafkaPrincipal, host: str, operation: AclOperation,
                               resource_type: ResourceType, super_users: Collection[KafkaPrincipal] = (),
                               allow_everyone_if_no_acl_found: bool = False) -> bool:
    """Whether ``principal`` from ``host`` may do ``operation`` on some resource of ``resource_type``, given every
    pattern with ACLs and its ACLs (the module docstring's algorithm)."""
    if principal in super_users:
        return True
    principals = (str(principal), WILDCARD_PRINCIPAL)

    def names(permission: AclPermissionType, pattern_type: PatternType) -> set[str]:
        return {pattern.name for pattern, acls in patterns.items()
                if pattern.resource_type == resource_type and pattern.pattern_type == pattern_type
                and any(acl.permission_type == permission and acl.principal in principals
                        and acl.host in (host, WILDCARD_HOST) and acl.operation in (operation, AclOperation.ALL)
                        for acl in acls)}

    deny_literals = names(AclPermissionType.DENY, PatternType.LITERAL)
    if WILDCARD_RESOURCE in deny_literals:
        return False
    if allow_everyone_if_no_acl_found:
        return True
    deny_prefixes = names(AclPermissionType.DENY, PatternType.PREFIXED)
    allow_literals = names(AclPermissionType.ALLOW, PatternType.LITERAL)
    allow_prefixes = names(AclPermissionType.ALLOW, PatternType.PREFIXED)
    if not deny_literals and not deny_prefixes:
        return bool(allow_literals or allow_prefixes)

    def dominated(name: str) -> bool:
        return any(name[:end] in deny_prefixes for end in range(1, len(name) + 1))

    return (any(not dominated(prefix) for prefix in allow_prefixes)
            or any(name == WILDCARD_RESOURCE or (name not in deny_literals and not dominated(name))
                   for name in allow_literals))
