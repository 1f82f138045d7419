"""SaslHandshake reaching the handlers: on a listener without SASL, or on a connection that has authenticated
and may not re-authenticate. The SASL exchange itself belongs to the connection
(:mod:`kafka_broker.security.authenticator`, run by :mod:`kafka_broker.server` in frame order). Answered
ILLEGAL_SASL_STATE, as Kafka's ``KafkaApis`` answers it."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.SASL_HANDSHAKE
VERSIONS = (0, 1)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
