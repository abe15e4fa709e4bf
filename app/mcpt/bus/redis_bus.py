"""Redis Streams: where perception nodes publish and the association service reads.

Layout under a prefix (the URL's path, ``redis://HOST:PORT/PREFIX``):

* ``PREFIX:camera:<id>``: one stream per camera, one entry per frame (``pb``: an nv.Frame in protobuf,
  or ``json``: the same in JSON), capped at ``maxlen`` entries (``?maxlen=N``; approximate trimming,
  as Redis does it cheaply);
* ``PREFIX:cameras``: a hash, camera id -> what its node says of it (scene, fps, models; JSON);
* tracks go to the stream the associator's ``--publish`` URL names (its path is the stream key).

The publisher never blocks the pipeline on a lost broker: entries wait in a bounded buffer (the
oldest dropped and counted when it is full) while it reconnects with exponential backoff.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from mcpt.bus.messages import FORMATS
from mcpt.errors import InputError

log = logging.getLogger(__name__)

# Entries kept per camera stream: 10 minutes at 10 fps. A consumer further behind than this loses the
# oldest entries; at 50 people and 1280-d embeddings an entry is ~260 kB, so the cap bounds Redis'
# memory at ~1.5 GB per camera in the worst case (docs/scaling.md).
STREAM_MAXLEN = 6000
BUFFER_MAX = 2000  # entries a publisher holds while the broker is away
BACKOFF_S = (0.1, 5.0)  # first and longest wait between reconnection attempts


@dataclass(frozen=True)
class BusURL:
    host: str
    port: int
    path: str  # the prefix of a node's streams, or the tracks stream's key
    fmt: str = "protobuf"
    maxlen: int = STREAM_MAXLEN

    @classmethod
    def parse(cls, url: str, option: str) -> BusURL:
        u = urlparse(url)
        q = parse_qs(u.query)
        if u.scheme != "redis" or not u.path.strip("/"):
            raise InputError(None, f"expected redis://HOST:PORT/NAME[?format=json&maxlen=N], got {url!r}", field=option)
        fmt = q.get("format", ["protobuf"])[0]
        if fmt not in FORMATS:
            raise InputError(None, f"expected format {' or '.join(FORMATS)}, got {fmt!r}", field=option)
        try:
            maxlen = int(q.get("maxlen", [STREAM_MAXLEN])[0])
            port = u.port or 6379
        except ValueError as e:
            raise InputError(None, f"{e} in {url!r}", field=option) from None
        return cls(u.hostname or "127.0.0.1", port, u.path.strip("/"), fmt, maxlen)

    def camera_stream(self, camera_id: int) -> str:
        return f"{self.path}:camera:{camera_id}"

    @property
    def registry(self) -> str:
        return f"{self.path}:cameras"

    def client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # no retries inside the client: a lost broker must surface at once, so that a node buffers instead of
        # stalling its cameras and the reconnections are ours to pace and count
        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=10, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    @property
    def field(self) -> bytes:
        return b"json" if self.fmt == "json" else b"pb"


def payload(fields: dict) -> tuple[bytes, str]:
    """(message bytes, format) of a stream entry."""
    if b"pb" in fields:
        return fields[b"pb"], "protobuf"
    if b"json" in fields:
        return fields[b"json"], "json"
    raise ValueError(f"a stream entry without pb or json: {sorted(fields)}")


@dataclass
class PublisherStats:
    sent: int = 0
    dropped: int = 0  # buffered entries given up (buffer full, or still unsent at close)
    reconnects: int = 0
    most_buffered: int = 0
    bytes: int = 0


class Publisher:
    """XADD with a cap, through outages: a bounded buffer and reconnection with backoff."""

    def __init__(self, url: BusURL, buffer_max: int = BUFFER_MAX, clock=time.monotonic) -> None:
        self.url = url
        self.clock = clock
        self.buffer: deque[tuple[str, bytes]] = deque()
        self.buffer_max = buffer_max
        self.stats = PublisherStats()
        self._client = None
        self._retry_at = 0.0
        self._backoff = BACKOFF_S[0]
        self._down_since: float | None = None

    def _connected(self):
        if self._client is None:
            if self.clock() < self._retry_at:
                return None
            self._client = self.url.client()
        return self._client

    def _lost(self, err: Exception) -> None:
        if self._down_since is None:
            self._down_since = self.clock()
            log.warning("broker %s:%d unreachable (%s); buffering up to %d messages and reconnecting",
                        self.url.host, self.url.port, err, self.buffer_max)  # fmt: skip
        self._client = None
        self._retry_at = self.clock() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_S[1])

    def _drain(self) -> bool:
        """Send what is buffered, oldest first; False when the broker is away."""
        import redis

        while self.buffer:
            client = self._connected()
            if client is None:
                return False
            pipe = client.pipeline(transaction=False)
            chunk = list(self.buffer)[:200]
            for stream, data in chunk:
                pipe.xadd(stream, {self.url.field: data}, maxlen=self.url.maxlen, approximate=True)
            try:
                pipe.execute()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
                self._lost(e)
                return False
            for _ in chunk:
                _, data = self.buffer.popleft()
                self.stats.sent += 1
                self.stats.bytes += len(data)
            if self._down_since is not None:
                self.stats.reconnects += 1
                log.warning("broker back after %.1f s", self.clock() - self._down_since)
                self._down_since = None
            self._backoff = BACKOFF_S[0]
        return True

    def publish(self, stream: str, data: bytes) -> None:
        self.buffer.append((stream, data))
        if len(self.buffer) > self.buffer_max:
            self.buffer.popleft()
            self.stats.dropped += 1
        self.stats.most_buffered = max(self.stats.most_buffered, len(self.buffer))
        self._drain()

    def register(self, camera_id: int, meta: str) -> None:
        import redis

        deadline = self.clock() + 30
        while True:
            try:
                self.url.client().hset(self.url.registry, str(camera_id), meta)
                return
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if self.clock() > deadline:
                    raise InputError(None, f"broker {self.url.host}:{self.url.port} unreachable: {e}") from None
                time.sleep(0.5)

    def close(self, timeout_s: float = 60.0) -> None:
        """Send the rest, waiting up to ``timeout_s`` for the broker; what is left is counted as dropped."""
        deadline = self.clock() + timeout_s
        while not self._drain() and self.clock() < deadline:
            time.sleep(min(0.2, max(self._retry_at - self.clock(), 0.01)))
        if self.buffer:
            self.stats.dropped += len(self.buffer)
            log.warning("%d messages could not be sent (broker away for %.0f s)", len(self.buffer), timeout_s)
            self.buffer.clear()


@dataclass
class GroupReader:
    """Reads several streams through one consumer group, riding out broker restarts."""

    url: BusURL
    streams: list[str]
    group: str
    consumer: str
    retries: int = 0  # calls retried because the broker was away
    _client: object = field(default=None, repr=False)

    def _call(self, fn, timeout_s: float = 120.0):
        import redis

        deadline = time.monotonic() + timeout_s
        backoff = BACKOFF_S[0]
        while True:
            try:
                if self._client is None:
                    self._client = self.url.client()
                return fn(self._client)
            except redis.ResponseError as e:
                if "NOGROUP" in str(e):
                    raise InputError(
                        None, f"the broker lost the streams or the group {self.group!r} (restarted without AOF?): {e}"
                    ) from None
                raise
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if time.monotonic() > deadline:
                    raise InputError(None, f"broker {self.url.host}:{self.url.port} unreachable: {e}") from None
                log.warning("broker unreachable (%s); retrying in %.1f s", e, backoff)
                self._client = None
                self.retries += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])

    def create(self, start: dict[str, bytes] | None = None) -> None:
        """The group on every stream (made if missing), delivering from the start, or from after ``start``'s
        ids (a restart from a snapshot: what came after it is delivered again)."""
        import redis

        def make(c):
            for s in self.streams:
                try:
                    c.xgroup_create(s, self.group, id="0", mkstream=True)
                except redis.ResponseError as e:
                    if "BUSYGROUP" not in str(e):
                        raise
                if start is not None:
                    c.xgroup_setid(s, self.group, id=start.get(s, b"0"))

        self._call(make)

    def read(self, count: int = 256, block_ms: int = 100) -> list[tuple[str, bytes, dict]]:
        def go(c):
            return c.xreadgroup(self.group, self.consumer, {s: ">" for s in self.streams}, count=count, block=block_ms)

        out = []
        for stream, entries in self._call(go) or []:
            name = stream.decode() if isinstance(stream, bytes) else stream
            out += [(name, msg_id, fields) for msg_id, fields in entries]
        return out

    def ack(self, acks: dict[str, list[bytes]]) -> None:
        def go(c):
            pipe = c.pipeline(transaction=False)
            for s, ids in acks.items():
                if ids:
                    pipe.xack(s, self.group, *ids)
            pipe.execute()

        if any(acks.values()):
            self._call(go)

    def registry(self) -> dict[int, str]:
        raw = self._call(lambda c: c.hgetall(self.url.registry))
        return {int(k): v.decode() for k, v in raw.items()}

    def last_entry(self, stream: str) -> dict | None:
        got = self._call(lambda c: c.xrevrange(stream, count=1))
        return got[0][1] if got else None
