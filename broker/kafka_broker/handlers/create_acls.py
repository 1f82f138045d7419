"""CreateAcls: add ACL bindings — answered as Kafka answers without an authorizer.

kopfka has no authorizer yet, so, as Apache Kafka 3.9 configured without ``authorizer.class.name``, each
creation fails with SECURITY_DISABLED and Kafka's message; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.CREATE_ACLS
VERSIONS = (0, 3)

NO_AUTHORIZER = "No Authorizer is configured."


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "results": [
        {"error_code": ErrorCode.SECURITY_DISABLED, "error_message": NO_AUTHORIZER} for _ in request["creations"]]}
