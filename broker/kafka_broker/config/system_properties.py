"""The Java system properties kopfka honours, read from the ``KAFKA_OPTS`` environment variable as Kafka's start
scripts hand them to the JVM, so that a Kafka deployment's environment works unchanged.

``kafka-run-class.sh`` passes ``$KAFKA_OPTS`` unquoted, so the shell splits it at whitespace and leaves quotes
alone; each word ``-Dkey=value`` sets a property (``-Dkey`` alone sets it to the empty string; the last of a key
wins, as in the JVM). Other words, and properties not in this table, are ignored:

=====================================  ==========  ========================================================
property                               default     what
=====================================  ==========  ========================================================
``java.security.auth.login.config``    (none)      the JAAS login configuration file; its ZooKeeper section
                                                   logs the broker in to ZooKeeper (SASL DIGEST-MD5)
``zookeeper.sasl.clientconfig``        ``Client``  the name of that section
``zookeeper.sasl.client``              ``true``    anything but ``true`` (any case) turns SASL to ZooKeeper
                                                   off — an error if the section exists (Kafka's rule)
=====================================  ==========  ========================================================

For example ``KAFKA_OPTS=-Djava.security.auth.login.config=/etc/kafka/zookeeper_jaas.conf`` with::

    Client {
      org.apache.zookeeper.server.auth.DigestLoginModule required username="kafka" password="kafka-secret";
    };
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "KAFKA_OPTS",
    "LOGIN_CONFIG",
    "ZK_LOGIN_CONTEXT_NAME",
    "ZK_SASL_CLIENT",
    "ZooKeeperSaslProperties",
    "system_properties",
]

KAFKA_OPTS = "KAFKA_OPTS"
"""The environment variable holding the JVM options of Kafka's start scripts."""
LOGIN_CONFIG = "java.security.auth.login.config"
ZK_SASL_CLIENT = "zookeeper.sasl.client"
ZK_LOGIN_CONTEXT_NAME = "zookeeper.sasl.clientconfig"
_DEFAULTS = {ZK_SASL_CLIENT: "true", ZK_LOGIN_CONTEXT_NAME: "Client"}


def system_properties(java_options: str) -> dict[str, str]:
    """The ``-Dkey=value`` properties among JVM options split as a shell splits an unquoted variable."""
    properties: dict[str, str] = {}
    for word in java_options.split():
        if word.startswith("-D") and len(word) > 2:
            key, _, value = word[2:].partition("=")
            properties[key] = value
    return properties


@dataclass(frozen=True, slots=True)
class ZooKeeperSaslProperties:
    """The system properties deciding whether and how the broker logs in to ZooKeeper (module docstring);
    None where a property is not set."""

    login_config: str | None = None
    """``java.security.auth.login.config``: the JAAS file's path, or a ``file:`` URL."""
    sasl_client: str | None = None
    """``zookeeper.sasl.client`` as given."""
    context_name: str | None = None
    """``zookeeper.sasl.clientconfig`` as given."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ZooKeeperSaslProperties:
        """The properties set by ``environ``'s ``KAFKA_OPTS``."""
        properties = system_properties(environ.get(KAFKA_OPTS, ""))
        return cls(properties.get(LOGIN_CONFIG), properties.get(ZK_SASL_CLIENT),
                   properties.get(ZK_LOGIN_CONTEXT_NAME))

    @property
    def sasl_enabled(self) -> bool:
        """``zookeeper.sasl.client`` read as Java's ``Boolean.parseBoolean`` reads it."""
        return (self.sasl_client or _DEFAULTS[ZK_SASL_CLIENT]).lower() == "true"

    @property
    def section(self) -> str:
        """The JAAS section that logs the broker in to ZooKeeper."""
        return self.context_name if self.context_name is not None else _DEFAULTS[ZK_LOGIN_CONTEXT_NAME]

    def describe(self) -> str:
        """The three properties as Kafka's ``JaasUtils.zkSecuritySysConfigString`` lists them in its messages."""
        client = self.sasl_client if self.sasl_client is not None else f"default:{_DEFAULTS[ZK_SASL_CLIENT]}"
        context = self.context_name if self.context_name is not None else \
            f"default:{_DEFAULTS[ZK_LOGIN_CONTEXT_NAME]}"
        login_config = "null" if self.login_config is None else self.login_config  # as Java prints it
        return f"[{LOGIN_CONFIG}={login_config}, {ZK_SASL_CLIENT}={client}, {ZK_LOGIN_CONTEXT_NAME}={context}]"
