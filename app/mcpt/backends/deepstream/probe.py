"""Reading DeepStream metadata in a pad probe, the way NVIDIA's Python samples do, without blocking.

The probe walks batch -> frame -> object -> user meta, advancing every list on every path (a
meta of another type must not stall the walk: NVIDIA's own ssd-parser sample loops forever
there), takes each person's tracker id and box, rescales the box from streammux to the
camera's source resolution, copies the ReID vector (the SGIE's output tensor, or the tracker's
ReID vector) out of the pooled buffer, and hands the frames to the association thread through a
bounded queue. For video files the hand-off blocks when the queue is full, so the pipeline waits
for association and nothing is lost; for live cameras a batch that finds the queue full is
dropped and counted (waiting would only make the cameras' buffers overflow upstream).
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)
UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF


def glist(node) -> Iterator:
    """Items of a pyds GList: ``.data`` of each node, following ``.next`` (None or StopIteration ends it)."""
    while node is not None:
        yield node.data
        try:
            node = node.next
        except StopIteration:
            return


@dataclass
class FrameObjects:
    """One camera's tracked people in one batch, boxes already in source pixels."""

    camera_id: int
    frame_num: int
    pts_s: float
    source_size: tuple[int, int]
    track_ids: np.ndarray  # int64 (N,)
    boxes: np.ndarray  # float64 (N, 4) x y w h, source pixels
    scores: np.ndarray  # float64 (N,)
    embeddings: np.ndarray  # float32 (N, D); zeros where no vector came
    timestamp: float = 0.0  # stream time, seconds: set by the association worker (frame_num / rate, or pts)
    keypoints: np.ndarray | None = None  # float32 (N, 17, 3) source pixels, where a pose SGIE ran


@dataclass
class MetaReader:
    """Pure extraction from DeepStream metadata; ``pyds`` is passed in (the real module or a fake)."""

    pyds: object
    camera_of_source: dict[int, int]  # streammux pad index / source id -> camera id
    muxer_size: tuple[int, int]  # streammux width, height
    sgie_id: int | None = 2  # gie-unique-id of the ReID SGIE (None: use the tracker's ReID vector)
    person_class_ids: tuple[int, ...] = (0,)
    embedding_dim: int | None = None
    # the detector's box width correction (models.yaml), as the CPU backend applies it; nvinfer's own
    # rects (and so the ReID SGIE's crops) stay as the detector drew them
    box_width_scale: float = 1.0
    warned: set = field(default_factory=set)

    def read_batch(self, batch_meta) -> list[FrameObjects]:
        pyds = self.pyds
        out = []
        for data in glist(batch_meta.frame_meta_list):
            frame = pyds.NvDsFrameMeta.cast(data)
            cam = self.camera_of_source.get(int(frame.pad_index))
            if cam is None:
                if frame.pad_index not in self.warned:
                    log.warning("frames from unknown streammux pad %s ignored", frame.pad_index)
                    self.warned.add(frame.pad_index)
                continue
            out.append(self._frame(frame, cam))
        return out

    def _frame(self, frame, cam: int) -> FrameObjects:
        pyds = self.pyds
        src_w = int(frame.source_frame_width) or self.muxer_size[0]
        src_h = int(frame.source_frame_height) or self.muxer_size[1]
        sx, sy = src_w / self.muxer_size[0], src_h / self.muxer_size[1]
        ids, boxes, scores, embs = [], [], [], []
        for data in glist(frame.obj_meta_list):
            obj = pyds.NvDsObjectMeta.cast(data)
            if int(obj.class_id) not in self.person_class_ids or int(obj.object_id) == UNTRACKED_OBJECT_ID:
                continue
            r = obj.rect_params  # after nvtracker: the tracker's box for this frame, in streammux pixels
            w = r.width * sx * self.box_width_scale
            boxes.append((r.left * sx + (r.width * sx - w) / 2, r.top * sy, w, r.height * sy))
            ids.append(int(obj.object_id))
            conf = float(obj.confidence)
            scores.append(conf if conf >= 0 else float(obj.tracker_confidence))  # -0.1: tracked, not detected
            embs.append(self._embedding(obj))
        dim = self.embedding_dim or next((len(e) for e in embs if e is not None), 1)
        emb = np.zeros((len(embs), dim), np.float32)
        for i, e in enumerate(embs):
            if e is not None and len(e) == dim:
                n = float(np.linalg.norm(e))
                # mcpt's ReID models end in an L2 normalisation: keep their vectors bit for bit
                emb[i] = e / n if n > 0 and abs(n - 1.0) > 1e-5 else e
        return FrameObjects(
            camera_id=cam,
            frame_num=int(frame.frame_num),
            pts_s=float(frame.buf_pts) * 1e-9,
            source_size=(src_w, src_h),
            track_ids=np.array(ids, np.int64),
            boxes=np.array(boxes, np.float64).reshape(-1, 4),
            scores=np.array(scores, np.float64),
            embeddings=emb,
        )

    def _embedding(self, obj) -> np.ndarray | None:
        pyds = self.pyds
        found = None
        for data in glist(obj.obj_user_meta_list):
            user = pyds.NvDsUserMeta.cast(data)
            kind = user.base_meta.meta_type
            if self.sgie_id is not None and kind == pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                tensor = pyds.NvDsInferTensorMeta.cast(user.user_meta_data)
                if int(tensor.unique_id) != self.sgie_id:
                    continue  # another model's tensor; the walk goes on
                layer = pyds.get_nvds_LayerInfo(tensor, 0)
                ptr = ctypes.cast(pyds.get_ptr(layer.buffer), ctypes.POINTER(ctypes.c_float))
                # copy: the buffer goes back to nvinfer's pool after this probe returns
                found = np.ctypeslib.as_array(ptr, shape=(int(layer.inferDims.numElements),)).copy()
            elif self.sgie_id is None and kind == pyds.NvDsMetaType.NVDS_TRACKER_OBJ_REID_META:
                reid = pyds.NvDsObjReid.cast(user.user_meta_data)
                if int(reid.featureSize) > 0:
                    found = np.array(reid.get_host_reid_vector(), dtype=np.float32, copy=True)
        return found


@dataclass
class ProbeStats:
    batches: int = 0
    frames: int = 0
    objects: int = 0
    dropped_batches: int = 0
    errors: int = 0


STREAM_EOS_EVENT = "nv-stream-eos"  # nvstreammux's in-band per-source end of stream (GST_NVEVENT_STREAM_EOS)


class ProbeHandler:
    """The pad-probe callbacks: batches (read, hand the frames over) and, in band with them, nvstreammux's
    per-source end-of-stream events; the buffer or event always goes through."""

    def __init__(self, reader: MetaReader, ok_return, queue_size: int = 64, blocking: bool = False) -> None:
        self.reader = reader
        self.ok = ok_return  # Gst.PadProbeReturn.OK
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)  # ("frames", [FrameObjects]) items
        self.blocking = blocking  # video files: wait for room (lossless); live: drop and count
        self.stopping = threading.Event()  # set when the run ends, so a blocked hand-off gives up
        self.stats = ProbeStats()

    def event(self, pad, info, user_data=None):
        """A downstream event: a camera's end of stream arrives after its last frame, as the worker needs it."""
        ev = info.get_event()
        if ev is not None and ev.has_name(STREAM_EOS_EVENT):
            ok, source_id = ev.get_structure().get_uint("source-id")
            cam = self.reader.camera_of_source.get(int(source_id)) if ok else None
            if cam is not None:
                self._hand_over(("eos", cam), always=True)
        return self.ok

    def _hand_over(self, item, always: bool = False) -> bool:
        if self.blocking or always:
            while not self.stopping.is_set():
                try:
                    self.queue.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def __call__(self, pad, info, user_data=None):
        buf = info.get_buffer()
        if not buf:
            return self.ok
        try:
            batch_meta = self.reader.pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
            frames = self.reader.read_batch(batch_meta)
        except Exception:  # a probe must never take the stream down
            self.stats.errors += 1
            if self.stats.errors <= 3:
                log.exception("probe failed on a batch; skipping it")
            return self.ok
        self.stats.batches += 1
        self.stats.frames += len(frames)
        self.stats.objects += sum(len(f.track_ids) for f in frames)
        if not self._hand_over(("frames", frames)) and not self.blocking:
            self.stats.dropped_batches += 1
        return self.ok
