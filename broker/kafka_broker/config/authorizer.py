"""The authorizer's configuration, as Kafka's: ``authorizer.class.name`` (a broker key, part of the broker's
table) and the two keys Kafka's ``AclAuthorizer`` reads itself, ``super.users`` and
``allow.everyone.if.no.acl.found`` (not ``KafkaConfig`` keys, so not rows of the broker's table: Kafka's
DescribeConfigs knows them only as custom keys).

kopfka's authorizer is Kafka's ``AclAuthorizer`` on ZooKeeper (:mod:`kafka_broker.cluster.acl_authorizer`); the
class names that select it are Kafka's, and its pre-2.4 name ``kafka.security.auth.SimpleAclAuthorizer``.
Any other class name stops the broker at start with a message naming the key. ``super.users`` is a
semicolon-separated list of principals (``User:admin;User:ops``), each ``Type:name`` as Kafka parses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .definition import ConfigDef, ConfigType, Value, setting

__all__ = ["ACL_AUTHORIZER_CLASS_NAMES", "AUTHORIZER_ROWS", "AuthorizerSettings", "parse_super_users"]

ACL_AUTHORIZER_CLASS_NAMES = ("kafka.security.authorizer.AclAuthorizer", "kafka.security.auth.SimpleAclAuthorizer")
"""The values of ``authorizer.class.name`` that enable kopfka's authorizer (empty: no authorizer)."""


def parse_super_users(text: str) -> tuple[str, ...]:
    """``User:a;User:b`` → ``("User:a", "User:b")``, each trimmed; ValueError for one that is not ``Type:name``
    (Kafka's ``SecurityUtils.parseKafkaPrincipal``; trailing empty entries are dropped, as Java's split does)."""
    if not text.strip():
        return ()
    entries = [entry.strip() for entry in text.split(";")]
    while entries and not entries[-1]:
        entries.pop()
    for entry in entries:
        if ":" not in entry:
            raise ValueError(f"expected a string in format principalType:principalName but got {entry}")
    return tuple(entries)


def _class_name(value: Value) -> str | None:
    if value in ("", *ACL_AUTHORIZER_CLASS_NAMES):
        return None
    return (f"kopfka's authorizer is Kafka's AclAuthorizer: set {ACL_AUTHORIZER_CLASS_NAMES[0]} (or "
            f"{ACL_AUTHORIZER_CLASS_NAMES[1]}), or leave it empty for none")


def _super_users(value: Value) -> str | None:
    try:
        parse_super_users(str(value or ""))
    except ValueError as exc:
        return str(exc)
    return None


AUTHORIZER_ROWS = [
    ConfigDef("authorizer.class.name", ConfigType.STRING, "",
              "The authorizer: kafka.security.authorizer.AclAuthorizer (ACLs in ZooKeeper), or empty for none.",
              check=_class_name),
]
"""The authorizer's row of the broker's table."""

SUPER_USERS = ConfigDef("super.users", ConfigType.STRING, "",
                        "Principals allowed everything, whatever the ACLs: Type:name;Type:name.", check=_super_users)
ALLOW_EVERYONE_IF_NO_ACL_FOUND = ConfigDef(
    "allow.everyone.if.no.acl.found", ConfigType.BOOLEAN, "false",
    "Whether a resource no ACL applies to is open to everyone (else only to super users).")


@dataclass(frozen=True, slots=True)
class AuthorizerSettings:
    """Whether requests are authorized, and the authorizer's own settings."""

    class_name: str = setting(AUTHORIZER_ROWS[0])
    """``authorizer.class.name``; empty: no authorizer (the ACL APIs answer SECURITY_DISABLED)."""
    super_users: str = setting(SUPER_USERS)
    """``super.users``, as given; :attr:`super_user_principals` has them parsed."""
    allow_everyone_if_no_acl_found: bool = setting(ALLOW_EVERYONE_IF_NO_ACL_FOUND)

    @property
    def enabled(self) -> bool:
        return bool(self.class_name)

    @property
    def super_user_principals(self) -> tuple[str, ...]:
        """The super users, each ``Type:name``."""
        return parse_super_users(self.super_users)
