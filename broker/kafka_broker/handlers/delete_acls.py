"""DeleteAcls: remove the ACLs matching filters — answered as Kafka answers without an authorizer.

kopfka has no authorizer yet, so, as Apache Kafka 3.9 configured without ``authorizer.class.name``, each
filter fails with SECURITY_DISABLED and Kafka's message, matching no ACL.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.create_acls import NO_AUTHORIZER
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DELETE_ACLS
VERSIONS = (0, 3)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "filter_results": [
        {"error_code": ErrorCode.SECURITY_DISABLED, "error_message": NO_AUTHORIZER, "matching_acls": []}
        for _ in request["filters"]]}
