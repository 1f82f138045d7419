"""Kafka's ACL model: codes and names, filter matching (the cases of Kafka's ResourcePatternFilterTest), the
checks of a new binding, the patterns that apply to a resource, the decision table of Kafka's AuthorizerTest (the
same situations, written here as calls of the pure decision), and the decision for some resource of a type
(Kafka's testAuthorizeByResourceType* cases)."""

from __future__ import annotations

import pytest

from kafka_broker.protocol import ErrorCode
from kafka_broker.security.acl import (
    AccessControlEntry,
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    applicable_patterns,
    authorize,
    authorize_by_resource_type,
    creation_error,
    is_valid_principal,
)
from kafka_broker.security.principal import KafkaPrincipal

TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED, MATCH, ANY = PatternType.LITERAL, PatternType.PREFIXED, PatternType.MATCH, PatternType.ANY
READ, WRITE, DESCRIBE, ALL = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.ALL
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
ALICE = KafkaPrincipal.user("alice")


def ace(principal: str, operation: AclOperation, permission: AclPermissionType = ALLOW,
        host: str = "*") -> AccessControlEntry:
    return AccessControlEntry(principal, host, operation, permission)


# --- names and codes ------------------------------------------------------------------------------


def test_codes_are_kafkas() -> None:
    assert [(t.name, int(t)) for t in ResourceType] == [
        ("UNKNOWN", 0), ("ANY", 1), ("TOPIC", 2), ("GROUP", 3), ("CLUSTER", 4), ("TRANSACTIONAL_ID", 5),
        ("DELEGATION_TOKEN", 6), ("USER", 7)]
    assert [(t.name, int(t)) for t in PatternType] == [
        ("UNKNOWN", 0), ("ANY", 1), ("MATCH", 2), ("LITERAL", 3), ("PREFIXED", 4)]
    assert [int(o) for o in AclOperation] == list(range(15))
    assert (int(AclOperation.IDEMPOTENT_WRITE), int(AclOperation.DESCRIBE_TOKENS)) == (12, 14)
    assert [(p.name, int(p)) for p in AclPermissionType] == [("UNKNOWN", 0), ("ANY", 1), ("DENY", 2), ("ALLOW", 3)]


def test_zookeeper_names_are_pascal_case_and_read_back() -> None:
    assert [t.zk_name for t in ResourceType][2:] == [
        "Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User"]
    assert AclOperation.IDEMPOTENT_WRITE.zk_name == "IdempotentWrite"
    assert AclOperation.ALL.zk_name == "All" and AclPermissionType.ALLOW.zk_name == "Allow"
    # Kafka reads znode names (Pascal case, any case) and notices (enum names, any case)
    for name in ("TransactionalId", "TRANSACTIONALID", "TRANSACTIONAL_ID", "transactional_id"):
        assert ResourceType.from_name(name) == ResourceType.TRANSACTIONAL_ID
    assert ResourceType.from_name("Topics") == ResourceType.UNKNOWN
    assert AclOperation.from_name("DescribeConfigs") == AclOperation.DESCRIBE_CONFIGS
    assert AclOperation.from_code(15) == AclOperation.UNKNOWN and ResourceType.from_code(-3) == ResourceType.UNKNOWN


def test_patterns_and_entries_refuse_any_and_match_as_kafkas_constructors() -> None:
    for resource_type, pattern_type in ((ResourceType.ANY, LITERAL), (TOPIC, MATCH), (TOPIC, ANY)):
        with pytest.raises(ValueError, match="must not be"):
            ResourcePattern(resource_type, "t", pattern_type)
    with pytest.raises(ValueError, match="operation must not be ANY"):
        ace("User:a", AclOperation.ANY)
    with pytest.raises(ValueError, match="permissionType must not be ANY"):
        ace("User:a", READ, AclPermissionType.ANY)
    pattern = ResourcePattern(TOPIC, "t1", LITERAL)
    assert str(pattern) == "ResourcePattern(resourceType=TOPIC, name=t1, patternType=LITERAL)"
    assert str(ace("User:alice", READ)) == "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)"


# --- filters (Kafka's ResourcePatternFilterTest) ---------------------------------------------------


@pytest.mark.parametrize(("pattern_filter", "pattern", "matches"), [
    (ResourcePatternFilter(TOPIC, "Name", LITERAL), ResourcePattern(GROUP, "Name", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "Different", PREFIXED), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(TOPIC, "NAME", LITERAL), ResourcePattern(TOPIC, "Name", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "Name", LITERAL), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(ResourceType.ANY, "Name", PREFIXED), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, None, PREFIXED), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, None, ANY), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, None, MATCH), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, "Name", LITERAL), ResourcePattern(TOPIC, "Name", LITERAL), True),
    (ResourcePatternFilter(TOPIC, "Name", ANY), ResourcePattern(TOPIC, "Name", LITERAL), True),
    (ResourcePatternFilter(TOPIC, "Name", MATCH), ResourcePattern(TOPIC, "Name", LITERAL), True),
    (ResourcePatternFilter(TOPIC, "Name-something", MATCH), ResourcePattern(TOPIC, "Name", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "*", LITERAL), ResourcePattern(TOPIC, "*", LITERAL), True),
    (ResourcePatternFilter(TOPIC, "Name", LITERAL), ResourcePattern(TOPIC, "*", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "*", LITERAL), ResourcePattern(TOPIC, "Name", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "Name", ANY), ResourcePattern(TOPIC, "*", LITERAL), False),
    (ResourcePatternFilter(TOPIC, "Name", MATCH), ResourcePattern(TOPIC, "*", LITERAL), True),
    (ResourcePatternFilter(TOPIC, "Name", PREFIXED), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, "Name", PREFIXED), ResourcePattern(TOPIC, "Name-something", PREFIXED), False),
    (ResourcePatternFilter(TOPIC, "Name-something", PREFIXED), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(TOPIC, "Name-something", ANY), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(TOPIC, "Name-something", MATCH), ResourcePattern(TOPIC, "Name", PREFIXED), True),
    (ResourcePatternFilter(TOPIC, "Nam", MATCH), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(ResourceType.UNKNOWN, None, ANY), ResourcePattern(TOPIC, "Name", PREFIXED), False),
    (ResourcePatternFilter(TOPIC, None, PatternType.UNKNOWN), ResourcePattern(TOPIC, "Name", PREFIXED), False),
])
def test_resource_pattern_filter(pattern_filter: ResourcePatternFilter, pattern: ResourcePattern,
                                 matches: bool) -> None:
    assert pattern_filter.matches(pattern) is matches


def test_filters_that_name_their_patterns() -> None:
    assert ResourcePatternFilter(TOPIC, "t", ANY).named_patterns() == [
        ResourcePattern(TOPIC, "t", LITERAL), ResourcePattern(TOPIC, "t", PREFIXED)]
    assert ResourcePatternFilter(GROUP, "g", PREFIXED).named_patterns() == [ResourcePattern(GROUP, "g", PREFIXED)]
    for indefinite in (ResourcePatternFilter(ResourceType.ANY, "t", LITERAL), ResourcePatternFilter(TOPIC, None, ANY),
                       ResourcePatternFilter(TOPIC, "t", MATCH), ResourcePatternFilter(ResourceType.UNKNOWN, "t", ANY)):
        assert not indefinite.matches_at_most_one


def test_entry_filter_and_binding_filter() -> None:
    entry = ace("User:alice", READ, host="10.0.0.1")
    assert AccessControlEntryFilter.ANY.matches(entry)
    assert AccessControlEntryFilter("User:alice", None, AclOperation.ANY, ALLOW).matches(entry)
    assert not AccessControlEntryFilter("User:*", None, AclOperation.ANY, AclPermissionType.ANY).matches(entry)
    assert not AccessControlEntryFilter(None, "*", AclOperation.ANY, AclPermissionType.ANY).matches(entry)
    assert not AccessControlEntryFilter(None, None, WRITE, AclPermissionType.ANY).matches(entry)
    assert not AccessControlEntryFilter(None, None, AclOperation.ANY, DENY).matches(entry)
    binding = AclBinding(ResourcePattern(TOPIC, "t", LITERAL), entry)
    assert AclBindingFilter.ANY.matches(binding)
    assert not AclBindingFilter(ResourcePatternFilter(GROUP, None, ANY), AccessControlEntryFilter.ANY).matches(binding)


# --- creating --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "entry", "message"), [
    (ResourcePattern(CLUSTER, "my-cluster", LITERAL), ace("User:a", READ),
     "The only valid name for the CLUSTER resource is kafka-cluster"),
    (ResourcePattern(TOPIC, "", LITERAL), ace("User:a", READ), "Invalid empty resource name"),
    (ResourcePattern(TOPIC, "a/b", LITERAL), ace("User:a", READ), "Failed to create ACL"),
    (ResourcePattern(ResourceType.UNKNOWN, "t", LITERAL), ace("User:a", READ), "Failed to create ACL"),
    (ResourcePattern(TOPIC, "t", PatternType.UNKNOWN), ace("User:a", READ), "Failed to create ACL"),
    (ResourcePattern(TOPIC, "t", LITERAL), ace("User:a", AclOperation.UNKNOWN), "Failed to create ACL"),
])
def test_creation_errors_are_kafkas(pattern: ResourcePattern, entry: AccessControlEntry, message: str) -> None:
    error = creation_error(AclBinding(pattern, entry))
    assert error is not None and (error.code, error.message) == (ErrorCode.INVALID_REQUEST, message)


def test_valid_creations() -> None:
    for pattern in (ResourcePattern(CLUSTER, "kafka-cluster", LITERAL), ResourcePattern(TOPIC, "*", LITERAL),
                    ResourcePattern(TOPIC, "*", PREFIXED), ResourcePattern(GROUP, "g-", PREFIXED)):
        assert creation_error(AclBinding(pattern, ace("User:a", READ))) is None
    assert is_valid_principal("User:alice") and is_valid_principal("Group:") and not is_valid_principal("alice")


# --- which ACLs apply -----------------------------------------------------------------------------


def test_applicable_patterns() -> None:
    assert applicable_patterns(TOPIC, "foo") == [
        ResourcePattern(TOPIC, "foo", LITERAL), ResourcePattern(TOPIC, "*", LITERAL),
        ResourcePattern(TOPIC, "f", PREFIXED), ResourcePattern(TOPIC, "fo", PREFIXED),
        ResourcePattern(TOPIC, "foo", PREFIXED)]
    assert applicable_patterns(GROUP, "") == [ResourcePattern(GROUP, "", LITERAL), ResourcePattern(GROUP, "*", LITERAL)]
    assert applicable_patterns(TOPIC, "*") == [ResourcePattern(TOPIC, "*", LITERAL),
                                               ResourcePattern(TOPIC, "*", PREFIXED)]


# --- deciding (Kafka's AuthorizerTest situations) ---------------------------------------------------


def decide(acls: list[AccessControlEntry], operation: AclOperation, principal: KafkaPrincipal = ALICE,
           host: str = "192.168.1.1", **options: object) -> bool:
    return authorize(acls, principal=principal, host=host, operation=operation, **options)  # type: ignore[arg-type]


def test_topic_acl() -> None:
    """testTopicAcl: hosts, deny over allow, READ/WRITE imply DESCRIBE."""
    host1, host2 = "192.168.1.1", "192.168.1.2"
    rob, batman = KafkaPrincipal.user("rob"), KafkaPrincipal.user("batman")
    acls = [ace("User:alice", READ, host=host1), ace("User:alice", READ, host=host2),
            ace("User:alice", READ, DENY, host=host1), ace("User:alice", WRITE, host=host1),
            ace("User:alice", DESCRIBE), ace("User:rob", READ), ace("User:batman", WRITE)]
    assert decide(acls, READ, host=host2)
    assert not decide(acls, READ, host=host1)
    assert decide(acls, WRITE, host=host1)
    assert not decide(acls, WRITE, host=host2)
    assert decide(acls, DESCRIBE, host=host1) and decide(acls, DESCRIBE, host=host2)
    assert not decide(acls, AclOperation.ALTER, host=host1) and not decide(acls, AclOperation.ALTER, host=host2)
    assert decide(acls, DESCRIBE, rob) and decide(acls, DESCRIBE, batman)
    assert decide(acls, READ, rob) and decide(acls, WRITE, batman)
    assert not decide(acls, READ, batman)


def test_deny_takes_precedence_and_allow_all() -> None:
    allow_all = ace("User:*", ALL)
    assert decide([allow_all], READ, KafkaPrincipal.user("random"), host="192.0.4.4")
    assert not decide([allow_all, ace("User:alice", ALL, DENY, host="192.168.2.1")], READ, host="192.168.2.1")
    assert decide([allow_all, ace("User:alice", ALL, DENY, host="192.168.2.1")], READ, host="192.168.2.2")


def test_super_users_have_access_whatever_the_acls() -> None:
    deny_all = [ace("User:*", ALL, DENY)]
    supers = {KafkaPrincipal.user("superuser1"), KafkaPrincipal.user("superuser2")}
    assert decide(deny_all, READ, KafkaPrincipal.user("superuser1"), super_users=supers)
    assert decide([], READ, KafkaPrincipal.user("superuser2"), super_users=supers)
    assert not decide(deny_all, READ, super_users=supers)
    assert not decide(deny_all, READ, KafkaPrincipal("Group", "superuser1"), super_users=supers)


def test_no_acl_found() -> None:
    assert not decide([], READ)
    assert decide([], READ, allow_everyone_if_no_acl_found=True)
    # once any ACL applies, allow.everyone no longer matters
    assert not decide([ace("User:bob", READ)], READ, allow_everyone_if_no_acl_found=True)


def test_wildcard_principal_and_host() -> None:
    assert decide([ace("User:*", READ, host="192.168.1.1")], READ)
    assert not decide([ace("User:*", READ, host="192.168.1.1")], READ, host="192.168.1.9")
    assert not decide([ace("Group:*", READ)], READ)  # only User:* is the wildcard principal
    assert decide([ace("User:alice", READ, host="*")], READ, host="::1")


@pytest.mark.parametrize(("parent", "implied"), [
    (ALL, {o for o in AclOperation if o not in (AclOperation.UNKNOWN, AclOperation.ANY, ALL)}),
    (READ, {DESCRIBE}), (WRITE, {DESCRIBE}), (AclOperation.DELETE, {DESCRIBE}), (AclOperation.ALTER, {DESCRIBE}),
    (DESCRIBE, set()), (AclOperation.ALTER_CONFIGS, {AclOperation.DESCRIBE_CONFIGS}),
    (AclOperation.DESCRIBE_CONFIGS, set()), (AclOperation.IDEMPOTENT_WRITE, set()),
])
def test_acl_inheritance(parent: AclOperation, implied: set[AclOperation]) -> None:
    """testAclInheritance: what an ALLOW of ``parent`` allows; a DENY of it denies only itself (ALL: all)."""
    operations = [o for o in AclOperation if o not in (AclOperation.UNKNOWN, AclOperation.ANY)]
    for operation in operations:
        assert decide([ace("User:alice", parent)], operation) is (operation == parent or operation in implied)
        denied = operation == parent or parent == ALL
        assert decide([ace("User:alice", parent, DENY), ace("User:alice", ALL)], operation) is not denied


# --- some resource of a type (authorizeByResourceType) ---------------------------------------------

def some_topic(acls: dict[tuple[str, PatternType], list[AccessControlEntry]], operation: AclOperation = WRITE, *,
               principal: KafkaPrincipal = ALICE, host: str = "192.168.1.1", **options: object) -> bool:
    patterns = {ResourcePattern(TOPIC, name, kind): entries for (name, kind), entries in acls.items()}
    return authorize_by_resource_type(patterns, principal=principal, host=host, operation=operation,
                                      resource_type=TOPIC, **options)  # type: ignore[arg-type]


def test_some_resource_needs_a_matching_allow() -> None:
    assert not some_topic({})
    assert some_topic({("t", LITERAL): [ace("User:alice", WRITE)]})
    assert some_topic({("t-", PREFIXED): [ace("User:alice", WRITE)]})
    assert some_topic({("t", LITERAL): [ace("User:*", ALL, host="192.168.1.1")]})
    assert not some_topic({("t", LITERAL): [ace("User:alice", READ)]})  # no implied operations: READ is not WRITE
    assert not some_topic({("t", LITERAL): [ace("User:bob", WRITE)]})
    assert not some_topic({("t", LITERAL): [ace("User:alice", WRITE, host="10.0.0.1")]})
    assert not some_topic({("t", LITERAL): [ace("User:alice", WRITE)]}, operation=DESCRIBE)
    group = {ResourcePattern(GROUP, "g", LITERAL): [ace("User:alice", WRITE)]}
    assert not authorize_by_resource_type(group, principal=ALICE, host="h", operation=WRITE, resource_type=TOPIC)


def test_some_resource_deny_dominates_only_what_it_covers() -> None:
    allow_t = [ace("User:alice", WRITE)]
    deny = [ace("User:alice", WRITE, DENY)]
    assert not some_topic({("t", LITERAL): [*allow_t, *deny]})  # the same literal: denied
    assert some_topic({("t", LITERAL): allow_t, ("u", LITERAL): deny})  # an unrelated deny does not dominate
    assert not some_topic({("*", LITERAL): [ace("User:alice", ALL), *deny]})  # a DENY on the literal * denies all
    assert some_topic({("*", LITERAL): [ace("User:alice", WRITE)], ("u", LITERAL): deny})
    assert not some_topic({("t-", PREFIXED): allow_t, ("t", PREFIXED): deny})  # a shorter deny prefix dominates
    assert some_topic({("t", PREFIXED): allow_t, ("t-", PREFIXED): deny})  # a longer one does not
    assert not some_topic({("t-1", LITERAL): allow_t, ("t-", PREFIXED): deny})
    assert some_topic({("t-1", LITERAL): allow_t, ("t-2", LITERAL): deny})


def test_some_resource_for_super_users_and_allow_everyone() -> None:
    deny_all = {("*", LITERAL): [ace("User:*", ALL, DENY)]}
    assert some_topic(deny_all, super_users={ALICE})
    assert some_topic({}, allow_everyone_if_no_acl_found=True)
    # Kafka's: allow.everyone.if.no.acl.found allows whatever other ACLs exist, unless a DENY on * applies
    assert some_topic({("t", LITERAL): [ace("User:alice", WRITE, DENY)]}, allow_everyone_if_no_acl_found=True)
    assert not some_topic(deny_all, allow_everyone_if_no_acl_found=True)
