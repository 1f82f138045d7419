"""The group membership APIs: finding a coordinator, joining, syncing, heartbeats, leaving, and the
administrative views of groups (describe, list, delete)."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, BYTES, INT8, INT16, INT32, STRING
from ..schema import API, Array, F
from .metadata import NO_AUTHORIZED_OPERATIONS

FIND_COORDINATOR = API(
    ApiKey.FIND_COORDINATOR,
    "0-6",  # v5 (KIP-890) is v4; v6 (KIP-932) admits key type 2, share groups
    flexible="3+",
    request=[
        F("key", STRING, "0-3"),
        F("key_type", INT8, "1+"),
        F("coordinator_keys", Array(STRING), "4+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16, "0-3"),
        F("error_message", STRING, "1-3", nullable="1-3"),
        F("node_id", INT32, "0-3"),
        F("host", STRING, "0-3"),
        F("port", INT32, "0-3"),
        F("coordinators", [
            F("key", STRING, "4+"),
            F("node_id", INT32, "4+"),
            F("host", STRING, "4+"),
            F("port", INT32, "4+"),
            F("error_code", INT16, "4+"),
            F("error_message", STRING, "4+", nullable="4+"),
        ], "4+"),
    ],
)

JOIN_GROUP = API(
    ApiKey.JOIN_GROUP,
    "0-9",
    flexible="6+",
    request=[
        F("group_id", STRING),
        F("session_timeout_ms", INT32),
        F("rebalance_timeout_ms", INT32, "1+", default=-1),
        F("member_id", STRING),
        F("group_instance_id", STRING, "5+", nullable="5+"),
        F("protocol_type", STRING),
        F("protocols", [
            F("name", STRING),
            F("metadata", BYTES),
        ]),
        F("reason", STRING, "8+", nullable="8+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "2+"),
        F("error_code", INT16),
        F("generation_id", INT32, default=-1),
        F("protocol_type", STRING, "7+", nullable="7+"),
        F("protocol_name", STRING, nullable="7+"),
        F("leader", STRING),
        F("skip_assignment", BOOL, "9+"),
        F("member_id", STRING),
        F("members", [
            F("member_id", STRING),
            F("group_instance_id", STRING, "5+", nullable="5+"),
            F("metadata", BYTES),
        ]),
    ],
)

HEARTBEAT = API(
    ApiKey.HEARTBEAT,
    "0-4",
    flexible="4+",
    request=[
        F("group_id", STRING),
        F("generation_id", INT32),
        F("member_id", STRING),
        F("group_instance_id", STRING, "3+", nullable="3+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16),
    ],
)

LEAVE_GROUP = API(
    ApiKey.LEAVE_GROUP,
    "0-5",
    flexible="4+",
    request=[
        F("group_id", STRING),
        F("member_id", STRING, "0-2"),
        F("members", [
            F("member_id", STRING, "3+"),
            F("group_instance_id", STRING, "3+", nullable="3+"),
            F("reason", STRING, "5+", nullable="5+"),
        ], "3+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16),
        F("members", [
            F("member_id", STRING, "3+"),
            F("group_instance_id", STRING, "3+", nullable="3+"),
            F("error_code", INT16, "3+"),
        ], "3+"),
    ],
)

SYNC_GROUP = API(
    ApiKey.SYNC_GROUP,
    "0-5",
    flexible="4+",
    request=[
        F("group_id", STRING),
        F("generation_id", INT32),
        F("member_id", STRING),
        F("group_instance_id", STRING, "3+", nullable="3+"),
        F("protocol_type", STRING, "5+", nullable="5+"),
        F("protocol_name", STRING, "5+", nullable="5+"),
        F("assignments", [
            F("member_id", STRING),
            F("assignment", BYTES),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16),
        F("protocol_type", STRING, "5+", nullable="5+"),
        F("protocol_name", STRING, "5+", nullable="5+"),
        F("assignment", BYTES),
    ],
)

DESCRIBE_GROUPS = API(
    ApiKey.DESCRIBE_GROUPS,
    "0-5",
    flexible="5+",
    request=[
        F("groups", Array(STRING)),
        F("include_authorized_operations", BOOL, "3+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("groups", [
            F("error_code", INT16),
            F("group_id", STRING),
            F("group_state", STRING),
            F("protocol_type", STRING),
            F("protocol_data", STRING),
            F("members", [
                F("member_id", STRING),
                F("group_instance_id", STRING, "4+", nullable="4+"),
                F("client_id", STRING),
                F("client_host", STRING),
                F("member_metadata", BYTES),
                F("member_assignment", BYTES),
            ]),
            F("authorized_operations", INT32, "3+", default=NO_AUTHORIZED_OPERATIONS),
        ]),
    ],
)

LIST_GROUPS = API(
    ApiKey.LIST_GROUPS,
    "0-5",
    flexible="3+",
    request=[
        F("states_filter", Array(STRING), "4+"),
        F("types_filter", Array(STRING), "5+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16),
        F("groups", [
            F("group_id", STRING),
            F("protocol_type", STRING),
            F("group_state", STRING, "4+"),
            F("group_type", STRING, "5+"),
        ]),
    ],
)

DELETE_GROUPS = API(
    ApiKey.DELETE_GROUPS,
    "0-2",
    flexible="2+",
    request=[
        F("groups_names", Array(STRING)),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("results", [
            F("group_id", STRING),
            F("error_code", INT16),
        ]),
    ],
)
