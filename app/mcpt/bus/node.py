"""A perception node's side of the bus: each step's observations, one nv.Frame per camera and frame."""

from __future__ import annotations

import json

from mcpt.bus.messages import camera_message, encode, end_message
from mcpt.bus.redis_bus import BusURL, Publisher
from mcpt.observation import ObservationBatch


class NodePublisher:
    """Registers the node's cameras, publishes every camera's frame of every step (people or not) and an
    end-of-stream message per camera when the node's input ends."""

    def __init__(self, url: BusURL, scene: str, cameras: dict[int, dict], origin: float = 0.0) -> None:
        """``cameras``: camera id -> what the associator needs to know of it (fps, embedding size, models)."""
        self.url = url
        self.scene = scene
        self.cameras = sorted(cameras)
        self.ended: set[int] = set()
        self.origin = origin
        self.publisher = Publisher(url)
        for cam, meta in cameras.items():
            self.publisher.register(cam, json.dumps({"scene": scene, **meta}))

    def step(self, batch: ObservationBatch) -> None:
        frames = batch.camera_frames or {}
        for cam in sorted(frames):
            frame_id, timestamp = frames[cam]
            msg = camera_message(batch, cam, frame_id, timestamp, self.origin)
            self.publisher.publish(self.url.camera_stream(cam), encode(msg, self.url.fmt))

    def fail(self, camera_id: int, meta: dict, why: str) -> None:
        """A camera of the node's share that could not start: registered as failed and ended at once, so the
        associator neither waits for it nor for its registration."""
        self.publisher.register(camera_id, json.dumps({"scene": self.scene, **meta, "failed": why}))
        self.cameras = sorted({*self.cameras, camera_id})
        self.end(camera_id)

    def end(self, camera_id: int) -> None:
        """The camera's stream ended (or it never started): the associator stops waiting for it."""
        if camera_id not in self.ended:
            self.ended.add(camera_id)
            msg = end_message(self.scene, camera_id)
            self.publisher.publish(self.url.camera_stream(camera_id), encode(msg, self.url.fmt))

    def close(self, timeout_s: float = 60.0) -> None:
        for cam in self.cameras:
            self.end(cam)
        self.publisher.close(timeout_s)

    def summary(self) -> str:
        s = self.publisher.stats
        return (
            f"published {s.sent} messages ({s.bytes / 1e6:.1f} MB) to {self.url.host}:{self.url.port}/{self.url.path}; "
            f"broker reconnections {s.reconnects}, most buffered {s.most_buffered}, dropped {s.dropped}"
        )
