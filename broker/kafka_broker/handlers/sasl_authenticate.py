"""SaslAuthenticate reaching the handlers: on a listener without SASL, or with no SASL exchange in progress
(see :mod:`kafka_broker.handlers.sasl_handshake`). Answered ILLEGAL_SASL_STATE with Kafka's message."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.SASL_AUTHENTICATE
VERSIONS = (0, 2)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"error_code": ErrorCode.ILLEGAL_SASL_STATE,
            "error_message": "SaslAuthenticate request received after successful authentication",
            "auth_bytes": b"", "session_lifetime_ms": 0}
