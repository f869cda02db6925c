"""kombu's Redis transport, with one fault turned into the connection error its callers already handle.

When the broker's connection drops, a worker gives up the old connection and makes a new one. Messages
delivered on the old channel may still be acknowledged (a task finishing) or put back (the channel
closing) afterwards, and each needs a Redis client made from the channel's connection details. Once the
old transport is detached from its connection, kombu reads those details from `None` and raises
AttributeError ("'NoneType' object has no attribute 'hostname'"). Celery expects a connection error
there: it logs "Couldn't ack" or ignores the failed close and goes on. The AttributeError instead escapes
the consumer, the worker stops and its process exits with status 1, and nothing is consumed until a
supervisor restarts it. tests/faults/test_judge_faults.py saw it in about one broker restart in ten with
a busy worker.

Here a channel whose connection is gone raises redis-py's ConnectionError, one of the transport's
connection errors, so those callers handle it as they mean to. Nothing else changes: a message whose ack
or restore failed this way is on a Redis that was lost or left, and the judges' sweep hands stalled work
out again (`judges.services.reconcile`).

Used for redis:// and rediss:// brokers (CELERY_BROKER_TRANSPORT in arena/settings.py).
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection this channel belonged to is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
