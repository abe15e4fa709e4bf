"""Reading DeepStream metadata in a pad probe, the way NVIDIA's Python samples do, without blocking.

The probe walks batch -> frame -> object -> user meta, advancing every list on every path (a
meta of another type must not stall the walk: NVIDIA's own ssd-parser sample loops forever
there), takes each person's tracker id and box, rescales the box from streammux to the
camera's source resolution, copies the ReID vector (the SGIE's output tensor, or the tracker's
ReID vector) and, where a pose SGIE runs, its raw keypoint tensor out of the pooled buffers (the
keypoints are decoded and mapped back through nvinfer's crop to source pixels), and hands the
frames to the association thread through a bounded queue. For video files the hand-off blocks when
the queue is full, so the pipeline waits for association and nothing is lost; for live cameras a
batch that finds the queue full is dropped and counted (waiting would only make the cameras'
buffers overflow upstream).
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mcpt.pose.decode import POSE_VALUES, decode_poses
from mcpt.pose.keypoints import unknown

log = logging.getLogger(__name__)
UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF
# NvDsInferDataType (nvdsinfer.h): the output element types the probe reads
INFER_FLOAT, INFER_HALF = 0, 1


def glist(node) -> Iterator:
    """Items of a pyds GList: ``.data`` of each node, following ``.next`` (None or StopIteration ends it)."""
    while node is not None:
        yield node.data
        try:
            node = node.next
        except StopIteration:
            return


def nvinfer_object_crop(rects: np.ndarray, net_w: int, net_h: int) -> dict[str, np.ndarray]:
    """Where nvinfer (maintain-aspect-ratio=1, symmetric-padding=1, process-mode=2) puts each object's rect
    in its network input, per gstnvinfer.cpp ``get_converted_buffer`` (DeepStream 6.x-7.x sources).

    ``rects`` (M, 4) left top width height, streammux pixels (``obj_meta.rect_params``). nvinfer crops
    from an even origin with an even size (GST_ROUND_UP_2 of the truncated left/top, GST_ROUND_DOWN_2 of
    the truncated width/height), scales it keeping its aspect into the input, truncating the scaled
    side to whole pixels, and centres it (integer padding). Returns the crop's origin (``left``, ``top``,
    streammux pixels), the per-axis scale (``ratio_x``, ``ratio_y``: input pixels per streammux pixel,
    which differ by that truncation) and the content area (``content``: x1 y1 x2 y2 in input pixels).
    A negative left or top is taken as 0 here: nvinfer casts it to unsigned, which C leaves undefined.
    """
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    left = np.maximum(r[:, 0], 0).astype(np.int64)
    top = np.maximum(r[:, 1], 0).astype(np.int64)
    src_left, src_top = left + (left & 1), top + (top & 1)  # GST_ROUND_UP_2
    src_w = np.maximum(r[:, 2], 0).astype(np.int64) & ~1  # GST_ROUND_DOWN_2
    src_h = np.maximum(r[:, 3], 0).astype(np.int64) & ~1
    w, h = np.maximum(src_w, 2), np.maximum(src_h, 2)  # nvinfer never crops below input-object-min-*
    hdest = net_w * h / w
    fits = hdest <= net_h  # the full input width, or the full input height
    dest_w = np.where(fits, net_w, (net_h * w / h).astype(np.int64))
    dest_h = np.where(fits, hdest.astype(np.int64), net_h)
    pad_x, pad_y = (net_w - dest_w) // 2, (net_h - dest_h) // 2
    content = np.stack([pad_x, pad_y, pad_x + dest_w, pad_y + dest_h], axis=1).astype(np.float64)
    return {
        "left": src_left.astype(np.float64),
        "top": src_top.astype(np.float64),
        "ratio_x": dest_w / w,
        "ratio_y": dest_h / h,
        "content": content,
    }


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
    reid_layer: str = "embedding"  # the ReID model's output tensor name
    # gie-unique-id of the pose SGIE (None: no pose model runs, FrameObjects.keypoints stays None)
    pose_sgie_id: int | None = None
    pose_layer: str = "poses"  # the pose model's output tensor [anchors, 56]
    pose_input: tuple[int, int] = (192, 256)  # its input width, height (the tensor meta's network_info wins)
    pose_min_score: float = 0.25  # the pose model's person score below which a crop found nobody
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
        ids, boxes, scores, embs, rects, poses = [], [], [], [], [], []
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
            emb, pose = self._tensors(obj)
            embs.append(emb)
            rects.append((r.left, r.top, r.width, r.height))
            poses.append(pose)
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
            keypoints=None if self.pose_sgie_id is None else self._keypoints(rects, poses, sx, sy),
        )

    def _tensors(self, obj) -> tuple[np.ndarray | None, tuple | None]:
        """The object's ReID vector and its pose tensor ((anchors, 56) input pixels, the network's size)."""
        pyds = self.pyds
        emb = pose = None
        for data in glist(obj.obj_user_meta_list):
            user = pyds.NvDsUserMeta.cast(data)
            kind = user.base_meta.meta_type
            if kind == pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                tensor = pyds.NvDsInferTensorMeta.cast(user.user_meta_data)
                gie = int(tensor.unique_id)
                if self.sgie_id is not None and gie == self.sgie_id:
                    emb = self._layer_values(tensor, self.reid_layer)
                elif self.pose_sgie_id is not None and gie == self.pose_sgie_id:
                    values = self._layer_values(tensor, self.pose_layer)
                    if values is not None:
                        pose = self._pose_tensor(tensor, values)
                # any other model's tensor: the walk goes on
            elif self.sgie_id is None and kind == pyds.NvDsMetaType.NVDS_TRACKER_OBJ_REID_META:
                reid = pyds.NvDsObjReid.cast(user.user_meta_data)
                if int(reid.featureSize) > 0:
                    emb = np.array(reid.get_host_reid_vector(), dtype=np.float32, copy=True)
        return emb, pose

    def _warn_once(self, key, msg: str, *args) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning(msg, *args)

    def _layer_values(self, tensor, name: str) -> np.ndarray | None:
        """A copy of output layer ``name`` of one object's tensor meta, float32 (None: no such layer).

        nvinfer with network-type=100 attaches every output of the engine, in binding order, so the layer
        is found by name; a model with a single output differently named is read with a warning.
        ``get_nvds_LayerInfo`` is the call that points the layer at this object's host buffer
        (``out_buf_ptrs_host[j]``; the array's own buffer pointers are not valid, gstnvdsinfer.h).
        """
        pyds = self.pyds
        n = int(tensor.num_output_layers)
        layers = [pyds.get_nvds_LayerInfo(tensor, j) for j in range(n)]
        layer = next((x for x in layers if x.layerName == name), None)
        if layer is None and n == 1:
            layer = layers[0]
            self._warn_once(
                ("layer", name), "expected an output layer %r, reading the only one, %r", name, layer.layerName
            )
        if layer is None:
            self._warn_once(
                ("layer", name), "no output layer %r among %s", name, [x.layerName for x in layers] or "none"
            )
            return None
        dtype = int(layer.dataType)
        if dtype not in (INFER_FLOAT, INFER_HALF):
            self._warn_once(("dtype", name), "output layer %r has data type %s; expected float", name, dtype)
            return None
        ctype = ctypes.c_float if dtype == INFER_FLOAT else ctypes.c_uint16
        ptr = ctypes.cast(pyds.get_ptr(layer.buffer), ctypes.POINTER(ctype))
        # copy: the buffer goes back to nvinfer's pool after this probe returns
        values = np.ctypeslib.as_array(ptr, shape=(int(layer.inferDims.numElements),)).copy()
        return values if dtype == INFER_FLOAT else values.view(np.float16).astype(np.float32)

    def _pose_tensor(self, tensor, values: np.ndarray) -> tuple | None:
        if values.size == 0 or values.size % POSE_VALUES:
            self._warn_once(("pose-size",), "pose tensor of %d values is not [anchors, %d]", values.size, POSE_VALUES)
            return None
        net = tensor.network_info  # the input nvinfer scaled the crop into (what the engine was built for)
        size = (int(net.width), int(net.height)) if net.width and net.height else self.pose_input
        return values.reshape(-1, POSE_VALUES), size

    def _keypoints(self, rects: list, poses: list, sx: float, sy: float) -> np.ndarray:
        """(N, 17, 3) keypoints in source pixels; NaN rows for people the pose SGIE did not run on."""
        kp = unknown(len(poses))
        groups: dict[tuple, list[int]] = {}  # one engine gives one (network size, anchors): one group
        for i, p in enumerate(poses):
            if p is not None:
                groups.setdefault((p[1], len(p[0])), []).append(i)
        for ((net_w, net_h), _), rows in groups.items():
            crop = nvinfer_object_crop(np.array([rects[i] for i in rows]), net_w, net_h)
            # the crop is the object's rect: the person the decoder looks for fills the content area
            decoded = decode_poses(np.stack([poses[i][0] for i in rows]), crop["content"], self.pose_min_score)
            # input pixels -> streammux pixels (undo the padding, then the per-axis scale) -> source pixels;
            # the detector's box width correction is the rows' business, not the keypoints'
            x = crop["left"][:, None] + (decoded[..., 0] - crop["content"][:, None, 0]) / crop["ratio_x"][:, None]
            y = crop["top"][:, None] + (decoded[..., 1] - crop["content"][:, None, 1]) / crop["ratio_y"][:, None]
            kp[rows] = np.stack([x * sx, y * sy, decoded[..., 2]], axis=-1)
        return kp


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
