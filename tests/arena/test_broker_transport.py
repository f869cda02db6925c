"""The broker transport (arena/broker_transport.py): a message acknowledged or put back after its channel's
connection was given up fails with a connection error, which Celery logs and survives, not AttributeError,
which stopped the worker. The channel is brought to the state a worker's old channel is in after a broker
restart (its pools dropped, its transport detached), on a real Redis, under a key prefix of the test's own
that is emptied afterwards."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from arena.broker_transport import Transport


@pytest.fixture
def prefixed(redis_url):
    """Transport options with a key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"broker-transport-{uuid.uuid4().hex}:"
    yield {"global_keyprefix": prefix}
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    # kombu keeps the bindings' key names outside the prefix's reach in some versions: check none is left.
    assert not list(client.scan_iter(match=f"*{prefix}*"))


def _old_channel_message(url: str, transport, options: dict):
    """A message delivered and not acknowledged, on a channel whose connection was then given up."""
    queue = Queue("old-channel", Exchange("old-channel"), "old-channel")
    with Connection(url, transport_options=options) as producer_side:
        producer_side.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=queue.name, declare=[queue]
        )
    conn = Connection(url, transport=transport, transport_options=options)
    channel = conn.default_channel
    message = queue(channel).get(no_ack=False)
    assert message is not None
    channel.do_restore = False  # nothing to put back when the test's process exits
    channel._disconnect_pools()  # type: ignore[attr-defined]  # a lost connection leaves no client pool ...
    conn._do_close_transport()  # ... and the transport detached from its connection
    return conn, message


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
def test_the_apps_broker_connections_use_it_and_keep_what_the_scheme_implies(scheme):
    from arena.celery import app

    url = f"{scheme}://127.0.0.1:6399/0"  # never connected to
    with app.connection_for_write(url=url) as conn:
        assert isinstance(conn.transport, Transport)
        assert conn.as_uri().startswith(f"{scheme}://")
        assert bool(conn.ssl) is (scheme == "rediss")  # kombu's TLS default for rediss:// is kept


def test_kombus_own_channel_raises_attribute_error_there(redis_url, prefixed):
    # The fault itself, so that the tests below mean something: kombu reads the details of a detached
    # connection from None.
    _, message = _old_channel_message(redis_url, kombu_redis.Transport, prefixed)
    with pytest.raises(AttributeError, match="hostname"):
        message.ack()


def test_an_ack_on_the_old_channel_is_a_connection_error_that_celery_logs(redis_url, prefixed, caplog):
    conn, message = _old_channel_message(redis_url, Transport, prefixed)
    with caplog.at_level(logging.CRITICAL):
        # What Celery's request does with a finished task's message: errors it knows are logged, not raised.
        message.ack_log_error(logging.getLogger("celery.worker.request"), conn.connection_errors)
    assert "Couldn't ack" in caplog.text
    assert "the broker connection this channel belonged to is closed" in caplog.text


def test_putting_back_on_the_old_channel_is_a_connection_error(redis_url, prefixed):
    conn, message = _old_channel_message(redis_url, Transport, prefixed)
    with pytest.raises(conn.connection_errors, match="belonged to is closed"):
        message.channel.qos.restore_unacked()
