"""The `kopfka` command line: Kafka's familiar tools (`kafka-topics.sh`, console producer and consumer)
plus `kopfka local`, built on confluent-kafka (librdkafka) so they talk to any Kafka-compatible cluster."""
