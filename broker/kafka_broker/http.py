"""The broker's HTTP endpoint (aiohttp): ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` answers while the event loop turns. ``/readyz`` answers 200 only when the broker is
registered in ZooKeeper and is in the ISR of every partition it hosts that has a live leader —
the gate a rolling restart waits on before touching the next broker. ``/metrics`` is the
Prometheus text format (prometheus-client), computed from live state at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.config import BrokerConfig
from kafka_broker.controller import Controller


class Broker(Protocol):
    """What the endpoints read of the broker (:class:`kafka_broker.broker.Broker`)."""

    config: BrokerConfig
    cache: MetadataCache
    registered: bool

    @property
    def replicas(self) -> ReplicaManager | None: ...

    @property
    def controller(self) -> Controller | None: ...


def not_ready_reasons(broker: Broker) -> list[str]:
    if not broker.registered:
        return ["not registered in ZooKeeper"]
    if broker.replicas is None:
        return ["starting"]
    reasons = []
    me = broker.config.broker_id
    for (topic, index), _part in broker.replicas.partitions.items():
        info = broker.cache.partition(topic, index)
        if info is None or info.state is None:
            continue
        if info.leader in broker.cache.brokers and me not in info.isr:
            reasons.append(f"{topic}-{index}: not in ISR yet")
    return reasons


class BrokerCollector(Collector):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        broker = self.broker
        replicas = broker.replicas
        partitions = replicas.partitions.values() if replicas is not None else []
        leaders = [p for p in partitions if p.is_leader]
        under = [p for p in leaders if len(p.isr) < len(p.replicas)]
        yield GaugeMetricFamily("kopfka_partitions", "Partition replicas hosted by this broker",
                                value=len(list(partitions)))
        yield GaugeMetricFamily("kopfka_leader_partitions", "Partitions this broker leads", value=len(leaders))
        yield GaugeMetricFamily("kopfka_under_replicated_partitions",
                                "Led partitions whose ISR is smaller than their replica set", value=len(under))
        yield GaugeMetricFamily("kopfka_active_controller", "1 if this broker is the controller",
                                value=1 if broker.controller is not None and broker.controller.active else 0)
        yield GaugeMetricFamily("kopfka_live_brokers", "Brokers registered in ZooKeeper",
                                value=len(broker.cache.brokers))
        end = GaugeMetricFamily("kopfka_log_end_offset", "Log end offset", labels=["topic", "partition"])
        hw = GaugeMetricFamily("kopfka_high_watermark", "High watermark", labels=["topic", "partition"])
        for p in leaders:
            end.add_metric([p.topic, str(p.index)], p.log.log_end_offset)
            hw.add_metric([p.topic, str(p.index)], p.high_watermark)
        yield end
        yield hw


async def start_http(broker: Broker, host: str, port: int) -> web.AppRunner:
    registry = CollectorRegistry()
    registry.register(BrokerCollector(broker))

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        reasons = not_ready_reasons(broker)
        if reasons:
            return web.Response(status=503, text="\n".join(reasons) + "\n")
        return web.Response(text="ready\n")

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
