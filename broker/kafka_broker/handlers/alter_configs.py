"""AlterConfigs (the API before IncrementalAlterConfigs, still used by AKHQ and by ``kafka-configs.sh`` for
brokers): each resource's configs are *replaced* by the entries given (an entry with a null value is left
out, as Kafka does).

Topic: the new override set is validated and written to ``/config/topics/<t>`` with a change notice
(:meth:`~kafka_broker.cluster.topic_admin.TopicAdmin.alter_topic_config`). Broker (``""``: the cluster
default, else a broker id): the new set is validated with Kafka's dynamic-config rules and written to
``/config/brokers/<default>`` or ``/config/brokers/<id>`` (:func:`kafka_broker.handlers.configs.alter_broker_configs`).
``validate_only`` checks without writing.
"""

from __future__ import annotations

import functools
from typing import Any

from kafka_broker.handlers.configs import ResourceType, alter_broker_configs, unsupported_resource
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.ALTER_CONFIGS
VERSIONS = (0, 2)


def _replaced(replacement: dict[str, str], _current: dict[str, str]) -> dict[str, str]:
    return dict(replacement)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    validate_only = request["validate_only"]
    responses = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None,
                                  "resource_type": rtype, "resource_name": name}
        responses.append(result)
        replacement = {c["name"]: c["value"] for c in res["configs"] if c.get("value") is not None}
        replace = functools.partial(_replaced, replacement)
        try:
            if rtype == ResourceType.TOPIC:
                if not name:
                    raise KafkaError("Default topic resources are not allowed.", code=ErrorCode.INVALID_REQUEST)
                updated = await services.admin.alter_topic_config(
                    name, replace, defaults=services.config.topic_defaults,
                    validate_only=validate_only)
                info = services.cache.topics.get(name)
                if info is not None and not validate_only:
                    info.config = updated
            elif rtype == ResourceType.BROKER:
                await alter_broker_configs(services.dynamic, name, replace,
                                           validate_only=validate_only)
            else:
                raise unsupported_resource(rtype)
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)
    return {"throttle_time_ms": 0, "responses": responses}
