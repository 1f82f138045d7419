"""Our declarations of every API we serve, one module per API or small family, collected in API_SPECS.

Written from kafka.apache.org/protocol (and Kafka's message definitions as a reference); only the
versions we serve are declared, so ``ApiVersions`` can advertise exactly ``API_SPECS``.
"""

from __future__ import annotations

from ..schema import ApiSpec
from .acls import CREATE_ACLS, DELETE_ACLS, DESCRIBE_ACLS
from .configs import ALTER_CONFIGS, DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS
from .fetch import FETCH
from .group_offsets import OFFSET_COMMIT, OFFSET_DELETE, OFFSET_FETCH
from .groups import (
    DELETE_GROUPS,
    DESCRIBE_GROUPS,
    FIND_COORDINATOR,
    HEARTBEAT,
    JOIN_GROUP,
    LEAVE_GROUP,
    LIST_GROUPS,
    SYNC_GROUP,
)
from .handshake import API_VERSIONS
from .log_dirs import DESCRIBE_LOG_DIRS
from .metadata import DESCRIBE_CLUSTER, METADATA
from .offsets import DELETE_RECORDS, LIST_OFFSETS, OFFSET_FOR_LEADER_EPOCH
from .produce import INIT_PRODUCER_ID, PRODUCE
from .quotas import ALTER_CLIENT_QUOTAS, DESCRIBE_CLIENT_QUOTAS
from .reassignments import ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS
from .sasl import SASL_AUTHENTICATE, SASL_HANDSHAKE
from .scram import ALTER_USER_SCRAM_CREDENTIALS, DESCRIBE_USER_SCRAM_CREDENTIALS
from .topics import CREATE_PARTITIONS, CREATE_TOPICS, DELETE_TOPICS, ELECT_LEADERS
from .transactions import DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS

__all__ = ["API_SPECS"]

API_SPECS: dict[int, ApiSpec] = {
    spec.key: spec
    for spec in sorted(
        (
            PRODUCE,
            FETCH,
            LIST_OFFSETS,
            METADATA,
            OFFSET_COMMIT,
            OFFSET_FETCH,
            FIND_COORDINATOR,
            JOIN_GROUP,
            HEARTBEAT,
            LEAVE_GROUP,
            SYNC_GROUP,
            DESCRIBE_GROUPS,
            LIST_GROUPS,
            SASL_HANDSHAKE,
            API_VERSIONS,
            CREATE_TOPICS,
            DELETE_TOPICS,
            DELETE_RECORDS,
            INIT_PRODUCER_ID,
            OFFSET_FOR_LEADER_EPOCH,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            CREATE_PARTITIONS,
            DELETE_GROUPS,
            ELECT_LEADERS,
            INCREMENTAL_ALTER_CONFIGS,
            OFFSET_DELETE,
            DESCRIBE_CLUSTER,
            DESCRIBE_CLIENT_QUOTAS,
            ALTER_CLIENT_QUOTAS,
            DESCRIBE_ACLS,
            CREATE_ACLS,
            DELETE_ACLS,
            DESCRIBE_USER_SCRAM_CREDENTIALS,
            ALTER_USER_SCRAM_CREDENTIALS,
            ALTER_PARTITION_REASSIGNMENTS,
            LIST_PARTITION_REASSIGNMENTS,
            DESCRIBE_LOG_DIRS,
            SASL_AUTHENTICATE,
            DESCRIBE_PRODUCERS,
            DESCRIBE_TRANSACTIONS,
            LIST_TRANSACTIONS,
        ),
        key=lambda s: s.key,
    )
}
