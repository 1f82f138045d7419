"""kopfka's Kubernetes operator: KafkaCluster, KafkaTopic and KafkaUser custom resources → running clusters.

Layers, one way: ``model`` (pure manifest and plan functions) → ``roller`` → ``reconcile`` (named steps
against the API server) → ``handlers`` (kopf wiring). Run it with ``kopf run -m kafka_operator.handlers``.
"""

GROUP = "kopfka.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CLUSTER_PLURAL = "kafkaclusters"
TOPIC_PLURAL = "kafkatopics"
USER_PLURAL = "kafkausers"
