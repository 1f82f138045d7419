"""The broker's view of the cluster and its own replicas: metadata from ZooKeeper, partitions,
produce/fetch/replication state. Sits between storage (below) and the controller/handlers (above)."""
