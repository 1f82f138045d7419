"""Partition storage: record batches, segments with sparse indexes, partition logs and the log manager.

Layering inside the package: ``compression`` → ``records`` → ``index`` → ``segment`` →
``leader_epoch``/``checkpoint`` → ``log`` → ``log_manager``; ``log_config`` holds the settings.
"""

from kafka_broker.storage.log import AppendInfo, PartitionLog, ReadResult
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager
from kafka_broker.storage.records import BatchHeader, Record

__all__ = ["AppendInfo", "BatchHeader", "LogConfig", "LogManager", "PartitionLog", "ReadResult", "Record"]
