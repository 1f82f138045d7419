"""Reading and changing one ``/config/<type>/<name>`` entity znode (a user, a client id), as Kafka's
``AdminZkClient.changeConfigs`` does.

Several admin APIs share a user's znode — client quotas (:mod:`kafka_broker.cluster.quota_admin`) and SCRAM
credentials (:mod:`kafka_broker.cluster.scram_admin`) — so each changes only its own keys and keeps the rest.
**Read-modify-write**: read the znode's config and version (absent: empty, version -1), let the caller change
the config dict (it may raise :class:`KafkaError` to refuse, and nothing is written), then write it back
conditionally — create if it was absent, set at the version read otherwise. If another writer came first
(``NodeExistsError``, ``BadVersionError``, ``NoNodeError``) start again from what it wrote, at most
:data:`ATTEMPTS` times. A write is followed by a change notice ``/config/changes/config_change_<seq>`` naming
the entity, which every broker's watch picks up. The calls block (kazoo): callers run them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_store import ZkClient
from kafka_broker.protocol import ErrorCode, KafkaError

ATTEMPTS = 10
"""Read-modify-write rounds before giving up on an entity znode that keeps changing."""


def read_entity_config(zk: ZkClient, entity_path: str) -> dict[str, str]:
    """The config of the entity ``users/alice`` (``/config/users/alice``); empty when the znode is absent."""
    try:
        data, _stat = zk.get(md.config_entity_znode(entity_path))
    except NoNodeError:
        return {}
    return md.decode_entity_config(data)


def entity_names(zk: ZkClient, path: str) -> list[str]:
    """The (sanitized) entity names under ``path`` (``/config/users``…), sorted; none when it is absent."""
    try:
        return sorted(zk.get_children(path))
    except NoNodeError:
        return []


def update_entity_config(zk: ZkClient, entity_path: str, change: Callable[[dict[str, str]], None], *,
                         write: bool = True) -> dict[str, str]:
    """Apply ``change`` to the entity's config and write it back with a change notice (conditional on the
    znode's version; see the module doc). Without ``write`` only ``change`` runs (validation). Returns the
    config as changed; a :class:`KafkaError` from ``change`` propagates and nothing is written."""
    path = md.config_entity_znode(entity_path)
    for _ in range(ATTEMPTS):
        try:
            data, stat = zk.get(path)
            config, version = md.decode_entity_config(data), stat.version
        except NoNodeError:
            config, version = {}, -1
        change(config)
        if not write:
            return config
        encoded = md.encode_entity_config(config)
        try:
            if version < 0:
                zk.create(path, encoded, makepath=True)
            else:
                zk.set(path, encoded, version=version)
        except (NodeExistsError, BadVersionError, NoNodeError):
            continue  # another writer came first: change what it wrote
        zk.create(f"{md.CONFIG_CHANGES_PATH}/{md.CONFIG_CHANGE_PREFIX}", md.encode_config_change(entity_path),
                  sequence=True, makepath=True)
        return config
    raise KafkaError(f"{path} kept changing while it was being altered", code=ErrorCode.UNKNOWN_SERVER_ERROR)
