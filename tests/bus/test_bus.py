"""The event bus on every backend: two bus instances on one channel are two engine nodes."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from structlog.testing import capture_logs

from sharedline.bus import (
    BusClosed,
    MemoryBus,
    PostgresBus,
    RedisBus,
    SubscriberOverflow,
    Subscription,
    bus_kind,
    open_bus,
)
from sharedline.inbox.events import TRUNCATED, EventKind, InboxEvent

from .conftest import (
    POSTGRES_URL,
    REDIS_URL,
    Backend,
    Nodes,
    check_postgres,
    check_redis,
    drop_listener,
    publish_raw,
)

NUMBER = "+14155550100"
_ids = itertools.count(1)


def make_event(**overrides: Any) -> InboxEvent:
    fields: dict[str, Any] = {
        "kind": EventKind.MESSAGE_CREATED,
        "number": NUMBER,
        "workspace_id": 1,
        "conversation_id": 42,
        "at": 1_700_000_000.0,
        "id": f"e{next(_ids)}",
        "payload": {"text": "hello"},
    }
    fields.update(overrides)
    return InboxEvent(**fields)


async def receive(subscription: Subscription, timeout: float = 5.0) -> InboxEvent:
    return await asyncio.wait_for(anext(subscription), timeout)


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_an_event_published_on_one_node_reaches_subscribers_on_every_node(
    nodes: Nodes,
) -> None:
    node_a, node_b = await nodes("a"), await nodes("b")
    on_a, on_b = node_a.subscribe(), node_b.subscribe()
    event = make_event()
    assert await node_a.publish(event) is True
    received_b, received_a = await receive(on_b), await receive(on_a)
    assert received_b.id == received_a.id == event.id
    assert received_b.origin == "a"  # stamped by the publishing node
    assert received_b.payload == {"text": "hello"}


async def test_one_publishers_events_arrive_in_order(nodes: Nodes) -> None:
    node_a, node_b = await nodes("a"), await nodes("b")
    subscription = node_b.subscribe()
    sent = [make_event(payload={"n": n}) for n in range(50)]
    for event in sent:
        await node_a.publish(event)
    received = [await receive(subscription) for _ in sent]
    assert [e.id for e in received] == [e.id for e in sent]


async def test_a_subscriber_gets_only_events_published_after_it_subscribed(
    nodes: Nodes,
) -> None:
    node = await nodes("a")
    early = node.subscribe()
    await node.publish(make_event(id="before"))
    assert (await receive(early)).id == "before"
    late = node.subscribe()
    await node.publish(make_event(id="after"))
    assert (await receive(late)).id == "after"
    assert (await receive(early)).id == "after"


async def test_a_slow_subscriber_is_cut_off_at_the_queue_bound(nodes: Nodes) -> None:
    node = await nodes("a", queue_size=3)
    slow, fast = node.subscribe(), node.subscribe()
    with capture_logs() as logs:
        for n in range(4):
            await node.publish(make_event(id=f"n{n}"))
            assert (await receive(fast)).id == f"n{n}"
        await until(lambda: slow.closed)
    assert slow.pending == 0  # the buffer is freed at once
    with pytest.raises(SubscriberOverflow, match="3 events behind"):
        await receive(slow)
    assert [log["event"] for log in logs].count("bus_subscriber_overflow") == 1
    await node.publish(make_event(id="later"))
    assert (await receive(fast)).id == "later"


async def test_closing_a_subscription_ends_it_after_its_buffered_events(
    nodes: Nodes,
) -> None:
    node = await nodes("a")
    subscription = node.subscribe()
    await node.publish(make_event(id="kept"))
    await until(lambda: subscription.pending == 1)
    subscription.close()
    await node.publish(make_event(id="unseen"))
    assert [event.id async for event in subscription] == ["kept"]


async def test_closing_the_bus_ends_every_subscription(nodes: Nodes) -> None:
    node = await nodes("a")
    async with node.subscribe() as subscription:
        waiter = asyncio.create_task(receive(subscription))
        await asyncio.sleep(0.01)
        await node.close()
        with pytest.raises(StopAsyncIteration):
            await waiter
    with pytest.raises(BusClosed):
        node.subscribe()
    with pytest.raises(BusClosed):
        await node.publish(make_event())


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_malformed_messages_on_the_channel_are_logged_and_dropped(
    backend: Backend, nodes: Nodes
) -> None:
    node = await nodes("a")
    subscription = node.subscribe()
    with capture_logs() as logs:
        unknown_kind = make_event().to_json().replace("message.created", "call.exploded")
        for junk in ("not json", "[]", unknown_kind, make_event().to_json()[:-1]):
            await publish_raw(backend, nodes.channel, junk)
        await node.publish(make_event(id="good"))
        assert (await receive(subscription)).id == "good"
    dropped = [log for log in logs if log["event"] == "bus_message_dropped"]
    assert len(dropped) == 4
    assert all(log["log_level"] == "warning" for log in dropped)
    assert "call.exploded" in dropped[2]["reason"]


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_the_bus_reconnects_after_the_server_drops_its_connection(
    backend: Backend, nodes: Nodes
) -> None:
    node_a, node_b = await nodes("a"), await nodes("b")
    subscription = node_b.subscribe()
    await node_a.publish(make_event(id="before"))
    assert (await receive(subscription)).id == "before"
    with capture_logs() as logs:
        await drop_listener(node_b)
        # Publish until the listener is back: what was sent during the gap is lost.
        async with asyncio.timeout(10):
            while True:
                await node_a.publish(make_event(id="probe"))
                try:
                    await receive(subscription, timeout=0.2)
                except TimeoutError:
                    continue
                break
    assert "bus_connection_lost" in [log["event"] for log in logs]
    await node_a.publish(make_event(id="after"))
    received = await receive(subscription)
    while received.id == "probe":
        received = await receive(subscription)
    assert received.id == "after"


@pytest.mark.parametrize("backend", ["postgres"])
async def test_events_over_the_notify_limit_travel_without_their_payload(
    backend: Backend, nodes: Nodes
) -> None:
    node_a, node_b = await nodes("a"), await nodes("b")
    subscription = node_b.subscribe()
    big = make_event(payload={"text": "x" * 9000})
    with capture_logs() as logs:
        assert await node_a.publish(big) is True
    received = await receive(subscription)
    assert received.id == big.id
    assert received.payload == TRUNCATED
    assert [log["event"] for log in logs] == ["bus_event_truncated"]
    fits = make_event(payload={"text": "é" * 3000})  # 6000 bytes of UTF-8: under the limit
    await node_a.publish(fits)
    assert (await receive(subscription)).payload == fits.payload


@pytest.mark.parametrize(
    "bus",
    [
        pytest.param(lambda: RedisBus("redis://127.0.0.1:1", reconnect_initial=0.01), id="redis"),
        pytest.param(
            lambda: PostgresBus("postgresql://postgres@127.0.0.1:1/test", reconnect_initial=0.01),
            id="postgres",
        ),
    ],
)
async def test_an_unreachable_server_is_logged_and_retried_never_raised(bus: Any) -> None:
    node: RedisBus | PostgresBus = bus()
    with capture_logs() as logs:
        assert await node.start(0.3) is False
        assert node.connected is False
        assert await node.publish(make_event()) is False
        await node.close()
    events = [log["event"] for log in logs]
    assert events.count("bus_connect_failed") >= 2  # it kept trying
    assert "bus_publish_failed" in events


def test_the_bus_follows_the_settings() -> None:
    sqlite = "sqlite+aiosqlite:///sharedline.db"
    postgres = "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert bus_kind(None, sqlite) == "memory"
    assert bus_kind(None, postgres) == "postgres"
    assert bus_kind("redis://127.0.0.1:6379/0", postgres) == "redis"
    assert bus_kind("rediss://cache.example:6380", sqlite) == "redis"
    assert bus_kind("postgresql://postgres@db/test", sqlite) == "postgres"
    assert bus_kind("memory://", postgres) == "memory"
    with pytest.raises(ValueError, match="amqp"):
        bus_kind("amqp://broker", postgres)


async def test_open_bus_gives_a_started_memory_bus_for_sqlite() -> None:
    bus = await open_bus(None, "sqlite+aiosqlite:///x.db", node_id="n1")
    assert isinstance(bus, MemoryBus)
    subscription = bus.subscribe()
    await bus.publish(make_event(id="x"))
    assert (await receive(subscription)).origin == "n1"
    await bus.close()


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_open_bus_connects_to_redis_and_postgres(backend: Backend) -> None:
    bus: Any
    if backend == "redis":
        await check_redis()
        bus = await open_bus(REDIS_URL, "sqlite+aiosqlite:///x.db")
        assert isinstance(bus, RedisBus)
    else:
        await check_postgres()
        bus = await open_bus(None, POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"))
        assert isinstance(bus, PostgresBus)
    assert bus.connected
    assert bus.node_id is not None
    await bus.close()
