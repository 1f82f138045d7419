"""kopfka's broker: an Apache-Kafka-compatible broker written in Python."""

__version__ = "0.1.0"
