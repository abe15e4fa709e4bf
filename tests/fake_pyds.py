"""A stand-in for NVIDIA's pyds: metadata as linked lists of plain objects, tensors in numpy buffers.

Mirrors the calls mcpt's probe makes (cast, get_nvds_LayerInfo, get_ptr, gst_buffer_get_nvds_batch_meta)
with the semantics pyds documents: ``cast`` returns the same object, lists end with None (or raise
StopIteration from ``.next`` in the style of older bindings), and tensor/ReID buffers belong to the
pipeline (they are reused after the probe returns, so readers must copy).

Tensor metas are laid out as gst-nvinfer attaches them (gstnvinfer_meta_utils.cpp
``attach_tensor_output_meta``): ``unique_id`` (the GIE's gie-unique-id), ``num_output_layers``, the
layers' info copied from the engine's (name, data type, dims without the batch axis; their ``buffer``
pointers are not valid), the object's own host buffers in ``out_buf_ptrs_host``, and ``network_info``.
As in the bindings (bindfunctions.cpp), ``get_nvds_LayerInfo(meta, j)`` is what points layer j at the
object's host buffer; ``output_layers_info`` is a method taking the index.
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


class NvDsInferDataType:
    FLOAT, HALF, INT8, INT32 = 0, 1, 2, 3


class NvDsMetaType:
    NVDSINFER_TENSOR_OUTPUT_META = 12
    NVDS_TRACKER_OBJ_REID_META = 30
    NVDS_USER_OTHER = 99


class FakePyds:
    NvDsMetaType = NvDsMetaType
    NvDsInferDataType = NvDsInferDataType
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
        info = tensor.output_layers_info(index)
        info.buffer = tensor.out_buf_ptrs_host[index]
        return info

    @staticmethod
    def get_ptr(buffer):
        return buffer.ctypes.data


class InferTensorMeta:
    """NvDsInferTensorMeta of one object (or frame): one host buffer per bound output layer."""

    def __init__(self, unique_id: int, layers: list[tuple[str, np.ndarray]], network: tuple[int, int, int]) -> None:
        self.unique_id = unique_id
        self.num_output_layers = len(layers)
        self.out_buf_ptrs_host = []
        self._info = []
        for index, (name, values) in enumerate(layers):
            values = np.asarray(values)
            dtype = NvDsInferDataType.HALF if values.dtype == np.float16 else NvDsInferDataType.FLOAT
            buf = np.ascontiguousarray(values, np.float16 if dtype == NvDsInferDataType.HALF else np.float32).ravel()
            self.out_buf_ptrs_host.append(buf)
            dims = SimpleNamespace(numDims=values.ndim, numElements=values.size, d=list(values.shape))
            # the engine's layer info, copied: its buffer pointer means nothing for this object
            self._info.append(
                SimpleNamespace(
                    dataType=dtype, inferDims=dims, bindingIndex=index + 1, layerName=name, buffer=None, isInput=0
                )
            )
        self.out_buf_ptrs_dev = [None] * len(layers)
        self.gpu_id = 0
        self.network_info = SimpleNamespace(width=network[0], height=network[1], channels=network[2])

    def output_layers_info(self, j: int):
        return self._info[j]


def infer_user_meta(unique_id: int, layers: list[tuple[str, np.ndarray]], network=(128, 256, 3)):
    """An NVDSINFER_TENSOR_OUTPUT_META user meta and its tensor meta (host buffers in ``out_buf_ptrs_host``)."""
    tensor = InferTensorMeta(unique_id, layers, network)
    meta = SimpleNamespace(
        base_meta=SimpleNamespace(meta_type=NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META), user_meta_data=tensor
    )
    return meta, tensor


def tensor_user_meta(vector: np.ndarray, unique_id: int = 2):
    """The ReID SGIE's tensor: one layer ``embedding`` [D]; returns the meta and its (pooled) host buffer."""
    meta, tensor = infer_user_meta(unique_id, [("embedding", np.asarray(vector, np.float32))])
    return meta, tensor.out_buf_ptrs_host[0]


def pose_user_meta(raw: np.ndarray, unique_id: int = 3, network=(192, 256), before=()):
    """The pose SGIE's tensor: layer ``poses`` [anchors, 56] (after the layers ``before``, name -> values)."""
    layers = [*before, ("poses", np.asarray(raw, np.float32))]
    meta, tensor = infer_user_meta(unique_id, layers, (*network, 3))
    return meta, tensor.out_buf_ptrs_host[-1]


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
