"""IncrementalAlterConfigs: set, delete, append to or subtract from topic config overrides.

The new overrides are validated as a whole, then written to ``/config/topics/<t>`` with a change
notice; every broker hosting the topic applies them when its watch fires.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.config import TOPIC_CONFIGS, ConfigError, ConfigType, validate_topic_config
from kafka_broker.handlers.configs import ResourceType
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.INCREMENTAL_ALTER_CONFIGS
VERSIONS = (0, 1)

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def apply_operations(current: dict[str, str], operations: list[dict[str, Any]]) -> dict[str, str]:
    updated = dict(current)
    for op in operations:
        name, kind, value = op["name"], op["config_operation"], op.get("value")
        if kind == SET:
            if value is None:
                raise KafkaError(f"{name}: SET needs a value", code=ErrorCode.INVALID_CONFIG)
            updated[name] = value
        elif kind == DELETE:
            updated.pop(name, None)
        elif kind in (APPEND, SUBTRACT):
            row = TOPIC_CONFIGS.get(name)
            if row is not None and row.definition.type != ConfigType.LIST:
                verb = "append" if kind == APPEND else "subtract"
                raise KafkaError(f"Config value {verb} is not allowed for config key: {name}",
                                 code=ErrorCode.INVALID_CONFIG)
            items = [v for v in updated.get(name, "").split(",") if v]
            values = [v for v in (value or "").split(",") if v]
            if kind == APPEND:
                items += [v for v in values if v not in items]
            else:
                items = [v for v in items if v not in values]
            updated[name] = ",".join(items)
        else:
            raise KafkaError(f"{name}: unknown operation {kind}", code=ErrorCode.INVALID_REQUEST)
    return updated


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    responses = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None,
                                  "resource_type": rtype, "resource_name": name}
        responses.append(result)
        try:
            if rtype != ResourceType.TOPIC:
                raise KafkaError("only topic configs can be altered; broker configs are static",
                                 code=ErrorCode.INVALID_REQUEST)
            info = services.cache.topics.get(name)
            if info is None:
                raise KafkaError(f"Topic '{name}' does not exist.", code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            updated = apply_operations(info.config, res["configs"])
            try:
                validate_topic_config(updated, defaults=services.config.topic_defaults)
            except ConfigError as exc:
                raise KafkaError(str(exc), code=ErrorCode.INVALID_CONFIG) from None
            if not request["validate_only"]:
                await services.admin.set_topic_config(name, updated)
                info.config = updated
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)
    return {"throttle_time_ms": 0, "responses": responses}
