"""DescribeConfigs: topic configs (override, dynamic or static broker default, or table default, with
synonyms) and broker configs (this broker's every key, or the cluster default's dynamic keys), typed and
documented from the config tables (:mod:`kafka_broker.handlers.configs`).

Version 0 has no sources: each entry says ``is_default`` (its source is DEFAULT_CONFIG) instead, and
carries no synonyms. (Kafka 3.9 leaves ``is_default`` false on every v0 entry; its own client reads the flag.)

A broker's configs are answered by that broker only, as in Kafka (the admin client sends a broker
resource to the broker it names): another id gets INVALID_REQUEST with Kafka's message.

A topic needs DESCRIBE_CONFIGS on it, a broker DESCRIBE_CONFIGS on the cluster; without it the resource answers
TOPIC_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED with Kafka's default message and no configs.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import error_message
from kafka_broker.handlers.configs import (
    ResourceType,
    authorization_error,
    broker_config_entries,
    broker_id_of,
    topic_config_entries,
)
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation

API = ApiKey.DESCRIBE_CONFIGS
VERSIONS = (0, 4)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    synonyms, documentation = request["include_synonyms"], request["include_documentation"]
    results = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        keys = res.get("configuration_keys")
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": rtype,
                                  "resource_name": name, "configs": []}
        results.append(result)
        refused = authorization_error(ctx, AclOperation.DESCRIBE_CONFIGS, rtype, name)
        if refused is not None:
            result.update(error_code=refused, error_message=error_message(refused))
            continue
        try:
            if rtype == ResourceType.TOPIC:
                info = services.cache.topics.get(name)
                if info is None:
                    raise KafkaError(f"Topic '{name}' does not exist.", code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                result["configs"] = topic_config_entries(services.dynamic, info.config, keys=keys,
                                                         synonyms=synonyms, documentation=documentation)
            elif rtype == ResourceType.BROKER:
                broker_id = broker_id_of(name)
                own = services.config.broker_id
                if broker_id is not None and broker_id != own:
                    raise KafkaError(f"Unexpected broker id, expected {own} or empty string, but received {name}",
                                     code=ErrorCode.INVALID_REQUEST)
                result["configs"] = broker_config_entries(services.dynamic, cluster_default=broker_id is None,
                                                          keys=keys, synonyms=synonyms, documentation=documentation)
            else:
                raise KafkaError(f"Unsupported resource type: {rtype}", code=ErrorCode.INVALID_REQUEST)
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)
    return {"throttle_time_ms": 0, "results": results}
