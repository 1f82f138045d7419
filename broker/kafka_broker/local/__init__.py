"""Run kopfka on one machine: a ZooKeeper and N broker processes, for `kopfka local`, tests and benchmarks.

Nothing here is used by a running broker; it only starts and stops processes and watches ZooKeeper
for their registrations.
"""

from kafka_broker.local.cluster import LocalCluster
from kafka_broker.local.zookeeper import ZooKeeperProcess

__all__ = ["LocalCluster", "ZooKeeperProcess"]
