"""The broker transport (arena/broker_transport.py): a message acknowledged or put back after its channel's
connection was given up fails with a connection error, which Celery logs and survives, not AttributeError,
which stopped the worker. The channel is brought to the state a worker's old channel is in after a broker
restart (its pools dropped, its transport detached), on a real Redis."""

from __future__ import annotations

import logging
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from arena.broker_transport import Transport


def _old_channel_message(url: str, transport):
    """A message delivered and not acknowledged, on a channel whose connection was then given up."""
    name = f"broker-transport-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), name)
    with Connection(url) as producer_side:
        producer_side.Producer().publish({"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
    conn = Connection(url, transport=transport)
    channel = conn.default_channel
    message = queue(channel).get(no_ack=False)
    assert message is not None
    with Connection(url) as cleaner:  # the queue and its binding go; the message object stays in hand
        queue(cleaner.default_channel).delete()
    channel.do_restore = False  # nothing to put back when the test's process exits
    channel._disconnect_pools()  # type: ignore[attr-defined]  # a lost connection leaves no client pool ...
    conn._do_close_transport()  # ... and the transport detached from its connection
    return conn, message


def test_the_settings_use_it_for_a_redis_broker(settings):
    from arena.celery import app

    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)


def test_kombus_own_channel_raises_attribute_error_there(redis_url):
    # The fault itself, so that the test below means something: kombu reads the details of a detached
    # connection from None.
    _, message = _old_channel_message(redis_url, kombu_redis.Transport)
    with pytest.raises(AttributeError, match="hostname"):
        message.ack()


def test_an_ack_on_the_old_channel_is_a_connection_error_that_celery_logs(redis_url, caplog):
    conn, message = _old_channel_message(redis_url, Transport)
    with caplog.at_level(logging.CRITICAL):
        # What Celery's request does with a finished task's message: errors it knows are logged, not raised.
        message.ack_log_error(logging.getLogger("celery.worker.request"), conn.connection_errors)
    assert "Couldn't ack" in caplog.text
    assert "the broker connection this channel belonged to is closed" in caplog.text


def test_putting_back_on_the_old_channel_is_a_connection_error(redis_url):
    conn, message = _old_channel_message(redis_url, Transport)
    with pytest.raises(conn.connection_errors, match="belonged to is closed"):
        message.channel.qos.restore_unacked()
