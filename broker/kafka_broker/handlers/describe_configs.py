"""DescribeConfigs: topic configs (override, broker setting or default, with synonyms) and the
broker's configs, typed and documented from the config tables."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.configs import ResourceType, broker_config_entries, topic_config_entries
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DESCRIBE_CONFIGS
VERSIONS = (1, 4)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    synonyms, documentation = request["include_synonyms"], request["include_documentation"]
    results = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        keys = res.get("configuration_keys")
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": rtype,
                                  "resource_name": name, "configs": []}
        if rtype == ResourceType.TOPIC:
            info = services.cache.topics.get(name)
            if info is None:
                result.update(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              error_message=f"Topic '{name}' does not exist.")
            else:
                result["configs"] = topic_config_entries(services.config, info.config, keys=keys,
                                                         synonyms=synonyms, documentation=documentation)
        elif rtype == ResourceType.BROKER:
            if name not in ("", str(services.config.broker_id)):
                result.update(error_code=ErrorCode.INVALID_REQUEST,
                              error_message=f"configs of broker {name} are only known by that broker")
            else:
                result["configs"] = broker_config_entries(services.config, keys=keys, synonyms=synonyms,
                                                          documentation=documentation)
        else:
            result.update(error_code=ErrorCode.INVALID_REQUEST,
                          error_message=f"unsupported resource type {rtype}")
        results.append(result)
    return {"throttle_time_ms": 0, "results": results}
