"""Client quotas: Kafka's rate measurement and throttle time, the precedence of quota entities, who shares a
measurement, and the watches that keep every broker's quotas current from ZooKeeper."""

from __future__ import annotations

import asyncio

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.client_quotas import (
    ANONYMOUS,
    ClientQuotaManager,
    ClientQuotas,
)
from kafka_broker.cluster.quota_admin import QuotaAdmin
from kafka_broker.cluster.rate import Rate, throttle_time_ms
from kafka_broker.config.broker import QuotaSettings

from .fakes import FakeZooKeeper, settle

D = md.DEFAULT_ENTITY


# --- rate and throttle time ----------------------------------------------------------------------------


def test_a_first_burst_is_measured_over_the_whole_window() -> None:
    """Kafka assumes samples - 1 whole windows have passed: 1000 bytes at once is 100 B/s over 10 s."""
    rate = Rate(samples=11, window_ms=1000)
    rate.record(1000, 0)
    assert rate.window_size_ms(0) == 10_000
    assert rate.measure(0) == pytest.approx(100.0)
    # 50 B/s allowed: (100 - 50) / 50 * 10 s
    assert throttle_time_ms(rate, 50.0, 0) == 10_000
    assert throttle_time_ms(rate, 100.0, 0) == 0


def test_the_window_grows_past_the_minimum_and_old_samples_expire() -> None:
    rate = Rate(samples=3, window_ms=1000)
    rate.record(600, 0)
    rate.record(600, 1500)  # a second sample
    rate.record(600, 2800)  # a third
    # the oldest sample started at 0: 2.8 s of data, more than samples - 1 = 2 windows
    assert rate.window_size_ms(2800) == 2800
    assert rate.measure(2800) == pytest.approx(1800 / 2.8)
    # the first sample had nothing for samples * window: reset, out of the window and the sum
    assert rate.window_size_ms(3200) == 1700 + 1000
    assert rate.measure(3200) == pytest.approx(1200 / 2.7)
    # nothing recorded at all for that long: the rate is 0
    assert rate.measure(2800 + 3000) == 0.0
    # a negative record (a throttled fetch taken back) lowers the rate again
    rate.record(900, 10_000)
    rate.record(-900, 10_000)
    assert rate.measure(10_000) == 0.0


def test_throttle_time_rounds_half_up() -> None:
    rate = Rate(samples=2, window_ms=1000)
    rate.record(1001, 0)  # 1001 B over a 1 s window against 1000 B/s: 1 ms
    assert throttle_time_ms(rate, 1000.0, 0) == 1
    rate = Rate(samples=2, window_ms=1000)
    rate.record(1000.5, 0)  # 0.5 ms rounds up
    assert throttle_time_ms(rate, 1000.0, 0) == 1


def test_a_client_that_honours_its_throttle_gets_its_quota() -> None:
    """A producer sending 10 KiB requests as fast as it may, waiting out each throttle: once past the first
    burst (the first record is measured over the whole window), its rate is its quota, within 10%."""
    quotas = ClientQuotaManager(QuotaSettings(window_num=11, window_size_seconds=1))
    quotas.update((None, "app"), 50_000.0)
    now, sent = 0.0, 0
    while now < 80_000:
        throttle = quotas.record(ANONYMOUS, "app", 10_240, now)
        if now >= 20_000:
            sent += 10_240
        now += 5 + throttle  # 5 ms per request when not throttled: 2 MB/s unthrottled
    assert sent / ((now - 20_000) / 1000) == pytest.approx(50_000, rel=0.1)


def test_nothing_is_recorded_before_any_quota_exists() -> None:
    quotas = ClientQuotaManager()
    assert not quotas.enabled
    assert quotas.record(ANONYMOUS, "app", 10**9, 0) == 0
    assert quotas._sensors == {}
    quotas.update(("alice", None), 10.0)
    quotas.update(("alice", None), None)
    assert quotas.enabled  # stays on, as in Kafka
    assert quotas.record(ANONYMOUS, "app", 10**9, 0) == 0  # but no quota applies


def test_max_value_in_window() -> None:
    quotas = ClientQuotaManager(QuotaSettings(window_num=11, window_size_seconds=2))
    quotas.update((None, "app"), 1000.0)
    assert quotas.max_value_in_window(ANONYMOUS, "app") == 1000.0 * 10 * 2
    assert quotas.max_value_in_window(ANONYMOUS, "other") == float("inf")


# --- precedence and metric tags -------------------------------------------------------------------------

LEVELS: list[tuple[tuple[str | None, str | None], float]] = [
    (("alice", "app"), 1.0),
    (("alice", D), 2.0),
    (("alice", None), 3.0),
    ((D, "app"), 4.0),
    ((D, D), 5.0),
    ((D, None), 6.0),
    ((None, "app"), 7.0),
    ((None, D), 8.0),
]


def test_precedence_is_kafkas() -> None:
    """The most specific entity wins, in Kafka's order; removing it uncovers the next."""
    quotas = ClientQuotaManager()
    for entity, bound in LEVELS:
        quotas.update(entity, bound)
    for entity, bound in LEVELS:
        assert quotas.quota("alice", "app") == bound, entity
        quotas.update(entity, None)
    assert quotas.quota("alice", "app") is None


def test_defaults_apply_to_every_other_name() -> None:
    quotas = ClientQuotaManager()
    quotas.update((D, None), 6.0)
    quotas.update((None, D), 8.0)
    quotas.update(("bob", None), 3.0)
    assert quotas.quota("bob", "x") == 3.0
    assert quotas.quota("carol", "x") == 6.0
    assert quotas.quota(ANONYMOUS, "x") == 6.0


def test_names_are_compared_sanitized() -> None:
    quotas = ClientQuotaManager()
    quotas.update((None, md.sanitize_entity_name("my app*")), 9.0)
    assert quotas.quota(ANONYMOUS, "my app*") == 9.0
    assert quotas.quota(ANONYMOUS, "my app") is None


def test_client_id_quota_is_shared_by_every_connection_of_the_client_id() -> None:
    quotas = ClientQuotaManager(QuotaSettings(window_num=2, window_size_seconds=1))
    quotas.update((None, "app"), 1000.0)
    assert quotas.record("alice", "app", 600, 0) == 0
    assert quotas.record("bob", "app", 600, 0) > 0  # the same sensor: 1200 B in 1 s
    assert quotas.record("alice", "other", 10**6, 0) == 0  # no quota for "other"


def test_user_quota_is_shared_by_every_client_id_of_the_user() -> None:
    quotas = ClientQuotaManager(QuotaSettings(window_num=2, window_size_seconds=1))
    quotas.update(("alice", None), 1000.0)
    assert quotas.tags("alice", "a") == ("alice", "")
    assert quotas.record("alice", "a", 600, 0) == 0
    assert quotas.record("alice", "b", 600, 0) > 0


def test_default_client_quota_is_per_client_id() -> None:
    quotas = ClientQuotaManager(QuotaSettings(window_num=2, window_size_seconds=1))
    quotas.update((None, D), 1000.0)
    assert quotas.record(ANONYMOUS, "a", 600, 0) == 0
    assert quotas.record(ANONYMOUS, "b", 600, 0) == 0  # its own sensor, its own 1000 B/s
    assert quotas.record(ANONYMOUS, "a", 600, 0) > 0


def test_with_several_levels_the_supplying_level_decides_the_tags() -> None:
    quotas = ClientQuotaManager()
    quotas.update(("alice", None), 3.0)
    quotas.update((None, "app"), 7.0)
    assert quotas.tags("alice", "app") == ("alice", "")
    assert quotas.tags("bob", "app") == ("", "app")
    quotas.update((D, D), 5.0)
    assert quotas.tags("bob", "app") == ("bob", "app")


def test_a_changed_quota_applies_to_existing_sensors() -> None:
    quotas = ClientQuotaManager(QuotaSettings(window_num=2, window_size_seconds=1))
    quotas.update((None, "app"), 1000.0)
    assert quotas.record(ANONYMOUS, "app", 900, 0) == 0
    quotas.update((None, "app"), 100.0)
    assert quotas.record(ANONYMOUS, "app", 1, 0) > 0
    quotas.update((None, "app"), None)
    assert quotas.record(ANONYMOUS, "app", 10**6, 0) == 0


# --- watching ZooKeeper --------------------------------------------------------------------------------


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if condition():
            return
        await settle()
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_quotas_follow_zookeeper() -> None:
    zk = FakeZooKeeper()
    admin = QuotaAdmin(zk.client())
    quotas = ClientQuotas()
    await asyncio.to_thread(quotas.watch, zk.client(), asyncio.get_running_loop())

    await admin.alter({"client-id": "app"}, [("producer_byte_rate", 1024.0)], validate_only=False)
    await _until(lambda: quotas.produce.quota(ANONYMOUS, "app") == 1024.0, "the client quota")
    assert quotas.fetch.quota(ANONYMOUS, "app") is None

    await admin.alter({"user": None, "client-id": None}, [("consumer_byte_rate", 10.0)], validate_only=False)
    await _until(lambda: quotas.fetch.quota("anyone", "x") == 10.0, "the default user+client quota")

    # a user+client quota under a user that already exists (a children watch installed later)
    await admin.alter({"user": ANONYMOUS}, [("consumer_byte_rate", 20.0)], validate_only=False)
    await _until(lambda: quotas.fetch.quota(ANONYMOUS, "x") == 20.0, "the user quota (ahead of <default>/<default>)")
    await admin.alter({"user": ANONYMOUS, "client-id": "x"}, [("consumer_byte_rate", 30.0)], validate_only=False)
    await _until(lambda: quotas.fetch.quota(ANONYMOUS, "x") == 30.0, "the user+client quota")

    # removed by an alteration, then the znode deleted and made again behind the broker's back
    await admin.alter({"client-id": "app"}, [("producer_byte_rate", None)], validate_only=False)
    await _until(lambda: quotas.produce.quota(ANONYMOUS, "app") is None, "the removal")
    zk_client = zk.client()
    await asyncio.to_thread(zk_client.delete, f"{md.CONFIG_USERS_PATH}/{ANONYMOUS}", recursive=True)
    await _until(lambda: quotas.fetch.quota(ANONYMOUS, "x") == 10.0, "the deleted user's quotas to go")
    await asyncio.to_thread(zk_client.create, f"{md.user_clients_path(ANONYMOUS)}/x",
                            md.encode_entity_config({"consumer_byte_rate": "40"}), makepath=True)
    await _until(lambda: quotas.fetch.quota(ANONYMOUS, "x") == 40.0, "the re-created user+client quota")
    quotas.stop()
