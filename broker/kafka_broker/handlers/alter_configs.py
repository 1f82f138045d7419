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

from typing import Any

from kafka_broker.handlers.configs import Change, alter_resources
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey

API = ApiKey.ALTER_CONFIGS
VERSIONS = (0, 2)


def _replacement(resource: dict[str, Any], _rtype: int) -> Change:
    """The change that replaces a resource's configs with the request's entries (null values left out)."""
    replacement = {c["name"]: c["value"] for c in resource["configs"] if c.get("value") is not None}
    return lambda _current: dict(replacement)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return await alter_resources(request, ctx, _replacement)
