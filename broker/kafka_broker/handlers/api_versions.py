"""ApiVersions: the APIs and versions this broker serves, exactly as the handler table has them.

A client asking with a version we do not know gets UNSUPPORTED_VERSION (answered at v0 by the
server, per KIP-511) listing only ApiVersions' own range, exactly as Kafka answers it, and retries at
a version we have. v4 (KAFKA-17011) is v3.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.API_VERSIONS
VERSIONS = (0, 4)


def supported_api_keys() -> list[dict[str, int]]:
    from kafka_broker.handlers import HANDLERS

    return [
        {"api_key": r.api_key, "min_version": r.min_version, "max_version": r.max_version}
        for r in sorted(HANDLERS.values(), key=lambda r: r.api_key)
    ]


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"error_code": ErrorCode.NONE, "api_keys": supported_api_keys(), "throttle_time_ms": 0}


def unsupported_version_response() -> dict[str, Any]:
    own = [k for k in supported_api_keys() if k["api_key"] == API]
    return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": own}
