"""A stand-in for NVIDIA's pyds: metadata as linked lists of plain objects, tensors in numpy buffers.

Mirrors the calls mcpt's probe makes (cast, get_nvds_LayerInfo, get_ptr, gst_buffer_get_nvds_batch_meta)
with the semantics pyds documents: ``cast`` returns the same object, lists end with None (or raise
StopIteration from ``.next`` in the style of older bindings), and tensor/ReID buffers belong to the
pipeline (they are reused after the probe returns, so readers must copy).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class Node:
    def __init__(self, data, nxt=None, stop_iteration_at_end: bool = False) -> None:
        self.data = data
        self._next = nxt
        self._stop = stop_iteration_at_end

    @property
    def next(self):
        if self._next is None and self._stop:
            raise StopIteration
        return self._next


def glist(items, stop_iteration_at_end: bool = False):
    head = None
    for item in reversed(items):
        head = Node(item, head, stop_iteration_at_end)
    return head


class _Cast:
    @staticmethod
    def cast(x):
        return x


class NvDsMetaType:
    NVDSINFER_TENSOR_OUTPUT_META = 12
    NVDS_TRACKER_OBJ_REID_META = 30
    NVDS_USER_OTHER = 99


class FakePyds:
    NvDsMetaType = NvDsMetaType
    NvDsFrameMeta = _Cast
    NvDsObjectMeta = _Cast
    NvDsUserMeta = _Cast
    NvDsInferTensorMeta = _Cast
    NvDsObjReid = _Cast

    def __init__(self) -> None:
        self.batches = {}

    def gst_buffer_get_nvds_batch_meta(self, address):
        return self.batches[address]

    @staticmethod
    def get_nvds_LayerInfo(tensor, index):
        return tensor.layers[index]

    @staticmethod
    def get_ptr(buffer):
        return buffer.ctypes.data


def tensor_user_meta(vector: np.ndarray, unique_id: int = 2):
    buf = np.ascontiguousarray(vector, np.float32)
    layer = SimpleNamespace(buffer=buf, inferDims=SimpleNamespace(numElements=buf.size), layerName="embedding")
    tensor = SimpleNamespace(unique_id=unique_id, layers=[layer], num_output_layers=1)
    return SimpleNamespace(
        base_meta=SimpleNamespace(meta_type=NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META), user_meta_data=tensor
    ), buf


def reid_user_meta(vector: np.ndarray):
    buf = np.ascontiguousarray(vector, np.float32)
    reid = SimpleNamespace(featureSize=buf.size, get_host_reid_vector=lambda: buf)  # a view, as pyds returns
    return SimpleNamespace(
        base_meta=SimpleNamespace(meta_type=NvDsMetaType.NVDS_TRACKER_OBJ_REID_META), user_meta_data=reid
    ), buf


def other_user_meta():
    return SimpleNamespace(base_meta=SimpleNamespace(meta_type=NvDsMetaType.NVDS_USER_OTHER), user_meta_data=None)


def obj_meta(track_id, box, conf=0.9, class_id=0, user_metas=(), stop_iteration=False, tracker_conf=0.8):
    return SimpleNamespace(
        object_id=track_id,
        class_id=class_id,
        confidence=conf,
        tracker_confidence=tracker_conf,
        rect_params=SimpleNamespace(left=box[0], top=box[1], width=box[2], height=box[3]),
        obj_user_meta_list=glist(list(user_metas), stop_iteration),
    )


def frame_meta(pad_index, objects, frame_num=0, source_size=(1280, 720), pts_ns=0, stop_iteration=False):
    return SimpleNamespace(
        pad_index=pad_index,
        source_id=pad_index,
        frame_num=frame_num,
        buf_pts=pts_ns,
        source_frame_width=source_size[0],
        source_frame_height=source_size[1],
        obj_meta_list=glist(list(objects), stop_iteration),
    )


def batch_meta(frames, stop_iteration=False):
    return SimpleNamespace(frame_meta_list=glist(list(frames), stop_iteration))
