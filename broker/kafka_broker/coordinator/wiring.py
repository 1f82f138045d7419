"""Attaching the group coordinator to a broker: ``attach(broker)`` during start-up."""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group_coordinator import GroupCoordinator


def attach(broker: Any) -> GroupCoordinator:
    """Create the coordinator, publish it as ``services.groups``, follow ``__consumer_offsets``
    leadership and start the timer task (stopped with the broker's other tasks)."""
    services = broker.services
    coordinator = GroupCoordinator(broker_id=broker.config.broker_id, settings=broker.config.groups,
                                   cache=services.cache, replicas=services.replicas, admin=services.admin)
    services.groups = coordinator
    coordinator.start()
    broker._spawn(coordinator.run(), "group-coordinator")
    return coordinator
