"""DescribeAcls: the ACLs matching a filter — answered as Kafka answers without an authorizer.

kopfka has no authorizer yet (no ``authorizer.class.name``), so, as Apache Kafka 3.9 configured without one,
every request gets SECURITY_DISABLED at the top level with Kafka's message and no resources
(``kafka-acls.sh --list`` prints Kafka's "No Authorizer is configured on the broker").
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DESCRIBE_ACLS
VERSIONS = (0, 3)

NO_AUTHORIZER = "No Authorizer is configured on the broker"


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": ErrorCode.SECURITY_DISABLED, "error_message": NO_AUTHORIZER,
            "resources": []}
