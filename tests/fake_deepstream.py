"""A DeepStream runtime that behaves like the real one where mcpt depends on its behaviour, for tests.

Not only the API: the elements act as NVIDIA's do.

* ``nvurisrcbin`` wraps uridecodebin: a bare path (no ``file://``) posts an ``Invalid URI`` error
  from a child element and delivers nothing; a camera can be made to fail mid-stream (an error from
  its decoder, no end of stream); otherwise it delivers its frames, then an end of stream on its pad.
* ``nvstreammux`` batches round-robin with uneven shares (two frames of one camera and none of
  another in one batch); when a sink pad gets its end of stream it sends the in-band custom event
  ``nv-stream-eos`` (source-id) downstream after that camera's last frame and posts a ``stream-eos``
  element message; it sends its own end of stream only when every sink pad had one. It runs in the
  streaming thread and calls the pad probes on each batch and event: a probe that blocks stalls it,
  as in GStreamer.
* a pose SGIE (an ``nvinfer`` whose config outputs ``poses``) reads its own config file as nvinfer
  does and attaches to each person it runs on (operate-on-class-ids, input-object-min-width/height)
  an NVDSINFER_TENSOR_OUTPUT_META with its gie-unique-id and the layer ``poses`` [anchors, 56]: the
  object's rect cropped, letterboxed and centred into the network input exactly as gst-nvinfer's
  ``get_converted_buffer`` does (``nvinfer_letterbox``), the planted keypoints carried through it.
* the bus delivers messages to the main loop; ``GLib.MainLoop.run`` dispatches until ``quit``.

What the frames hold comes from a ``FrameSource`` per URI: per frame, the tracked objects
(nvinfer + nvtracker + the ReID SGIE's tensor, and the keypoints a pose model would find) and the
source size.
"""

from __future__ import annotations

import configparser
import queue
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from fake_gst import FakeElement, FakeGst, FakePad
from fake_pyds import FakePyds, batch_meta, frame_meta, obj_meta, pose_user_meta, tensor_user_meta

UNTRACKED = 0xFFFFFFFFFFFFFFFF


def nvinfer_letterbox(rect, net_w: int, net_h: int):
    """gst-nvinfer's object crop with maintain-aspect-ratio=1 and symmetric-padding=1, ported line by line
    from ``get_converted_buffer`` (gstnvinfer.cpp, DeepStream 6.2-7.1 sources; unsigned C arithmetic).

    ``rect`` left top width height in streammux pixels. Returns ``to_input(x, y)`` (streammux pixels ->
    network input pixels) and the content area x1 y1 x2 y2 in input pixels.
    """
    left, top, width, height = rect
    src_left = int(left) + (int(left) & 1)  # GST_ROUND_UP_2((unsigned int) left)
    src_top = int(top) + (int(top) & 1)
    src_width = int(width) & ~1  # GST_ROUND_DOWN_2((unsigned int) width)
    src_height = int(height) & ~1
    hdest = net_w * src_height / float(src_width)
    wdest = net_h * src_width / float(src_height)
    if hdest <= net_h:
        dest_width, dest_height = net_w, int(hdest)
    else:
        dest_width, dest_height = int(wdest), net_h
    offset_left = (net_w - dest_width) // 2
    offset_top = (net_h - dest_height) // 2
    ratio_x, ratio_y = dest_width / src_width, dest_height / src_height

    def to_input(x, y):
        return offset_left + (np.asarray(x) - src_left) * ratio_x, offset_top + (np.asarray(y) - src_top) * ratio_y

    return to_input, (offset_left, offset_top, offset_left + dest_width, offset_top + dest_height)


def pose_output(keypoints_mux: np.ndarray | None, rect, net_w: int, net_h: int) -> np.ndarray:
    """What the pose model outputs for one crop, [3, 56]: a neighbour cut by the crop's edge (confident, but
    not where the crop's person is), the crop's person (its box about the content area, its keypoints),
    and an empty anchor. Keypoints in streammux pixels, (17, 3); None: the model sees nobody (all zero)."""
    to_input, (x1, y1, x2, y2) = nvinfer_letterbox(rect, net_w, net_h)
    raw = np.zeros((3, 56), np.float32)
    if keypoints_mux is not None:
        raw[0, :5] = (x1 + 4, (y1 + y2) / 2, 10, (y2 - y1) * 0.8, 0.95)
        raw[0, 5:] = np.tile([x1 + 4, (y1 + y2) / 2, 0.9], 17)
        u, v = to_input(keypoints_mux[:, 0], keypoints_mux[:, 1])
        raw[1, :5] = ((x1 + x2) / 2 + 1.5, (y1 + y2) / 2 - 2.0, (x2 - x1) * 0.9, (y2 - y1) * 0.95, 0.85)
        raw[1, 5:] = np.stack([u, v, keypoints_mux[:, 2]], axis=1).ravel()
    return raw


@dataclass
class PoseSgie:
    """A pose SGIE as its nvinfer config file sets it up."""

    gie_id: int
    net_w: int
    net_h: int
    min_w: float
    min_h: float
    class_ids: set

    @staticmethod
    def _property(path):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.read(path)
        return cp["property"]

    @classmethod
    def is_pose(cls, path) -> bool:
        """An nvinfer whose engine outputs ``poses`` (its config names that output)."""
        return path is not None and cls._property(path).get("output-blob-names") == "poses"

    @classmethod
    def from_config(cls, path) -> PoseSgie:
        p = cls._property(path)
        # the fake crops only as this mode does, and DeepStream attaches tensors only with these keys
        assert p["maintain-aspect-ratio"] == "1" and p["symmetric-padding"] == "1", "pose SGIE must letterbox centred"
        assert p["network-type"] == "100" and p["output-tensor-meta"] == "1" and p["process-mode"] == "2"
        _, h, w = (int(d) for d in p["infer-dims"].split(";"))
        return cls(
            int(p["gie-unique-id"]),
            w,
            h,
            float(p.get("input-object-min-width", 16)),
            float(p.get("input-object-min-height", 16)),
            {int(c) for c in p["operate-on-class-ids"].split(";")},
        )

    def runs_on(self, class_id: int, rect) -> bool:
        return class_id in self.class_ids and rect[2] >= self.min_w and rect[3] >= self.min_h


@dataclass
class FrameSource:
    """What one camera delivers: ``frames[k]`` = list of (object id, box x y w h, score, embedding)."""

    frames: list[list[tuple]]  # (object id, box, score, embedding[, keypoints (17, 3) source pixels or None])
    size: tuple[int, int]
    fps: float
    fail_at: int | None = None  # the decoder errors at this frame (nothing after it, no end of stream)


class Message:
    def __init__(self, kind, src, error=None, structure=None) -> None:
        self.type, self.src, self._error, self._structure = kind, src, error, structure

    def parse_error(self):
        return self._error, "fake debug info"

    def get_structure(self):
        return self._structure


class Structure:
    def __init__(self, name: str, **fields) -> None:
        self.name, self.fields = name, fields

    def get_name(self):
        return self.name

    def get_uint(self, key):
        return (key in self.fields), self.fields.get(key, 0)


class Event:
    """A custom downstream event carrying a structure (as gst_nvevent_new_stream_eos builds it)."""

    def __init__(self, name: str, **fields) -> None:
        self.structure = Structure(name, **fields)

    def has_name(self, name: str) -> bool:
        return self.structure.name == name

    def get_structure(self):
        return self.structure


class Bus:
    def __init__(self) -> None:
        self.messages: queue.Queue = queue.Queue()
        self.callbacks = []

    def add_signal_watch(self):
        pass

    def connect(self, signal, callback):
        self.callbacks.append(callback)

    def post(self, message: Message) -> None:
        self.messages.put(message)

    def timed_pop_filtered(self, timeout_ns, types):
        try:
            while True:
                m = self.messages.get(timeout=timeout_ns / 1e9)
                if m.type & types:
                    return m
        except queue.Empty:
            return None


class Child:
    """An element inside a source bin (errors come from children: mcpt finds the bin through the parents)."""

    def __init__(self, name, parent) -> None:
        self.name, self.parent = name, parent

    def get_name(self):
        return self.name

    def get_parent(self):
        return self.parent


class MuxPad(FakePad):
    def __init__(self, owner, name, index) -> None:
        super().__init__(owner, name)
        self.index = index
        self.frames: queue.Queue = queue.Queue()
        self.eos = False

    def send_event(self, event):
        if event == "eos":
            self.frames.put(None)
        return True


class NvStreamMux(FakeElement):
    def request_pad_simple(self, name):
        pad = MuxPad(self, name, int(name.split("_")[1]))
        self.request_pads.append(pad)
        return pad


class NvUriSrcBin(FakeElement):
    def get_parent(self):
        return None


class Runtime:
    """(GLib, Gst, pyds) stand-ins; ``sources`` maps each URI to what its camera delivers."""

    def __init__(
        self,
        sources: dict[str, FrameSource],
        seed: int = 0,
        max_per_batch: int = 2,
        interrupt_after_batches: int | None = None,
    ) -> None:
        self.sources = sources
        self.interrupt_after_batches = interrupt_after_batches
        self.rng = np.random.default_rng(seed)
        self.max_per_batch = max_per_batch
        self.pyds = FakePyds()
        self.gst = self._gst()
        self.glib = SimpleNamespace(MainLoop=self._main_loop)
        self.batches_sent = 0
        self.probe_calls = 0
        self.thread: threading.Thread | None = None
        self.pipeline: FakePipeline | None = None

    def modules(self):
        return self.glib, self.gst, self.pyds

    # -- Gst ---------------------------------------------------------------------------------------
    def _gst(self):
        gst = FakeGst()
        rt = self
        gst.KNOWN = gst.KNOWN | {"x264enc"}

        class MessageType:
            EOS, ERROR, ELEMENT = 1, 2, 4

        class State:
            NULL, READY, PAUSED, PLAYING = 1, 2, 3, 4

        class StateChangeReturn:
            FAILURE, SUCCESS = 0, 1

        class PadProbeReturn:
            OK = "ok"

        gst.MessageType, gst.State, gst.StateChangeReturn, gst.PadProbeReturn = (
            MessageType,
            State,
            StateChangeReturn,
            PadProbeReturn,
        )
        gst.SECOND = 1_000_000_000
        gst.Event = SimpleNamespace(new_eos=lambda: "eos")
        make = gst.ElementFactory.make

        class ElementFactory:
            @staticmethod
            def make(factory, name):
                if factory == "nvstreammux":
                    return NvStreamMux(factory, name)
                if factory == "nvurisrcbin":
                    return NvUriSrcBin(factory, name)
                e = make(factory, name)
                if e is not None:
                    e.set_state = lambda state: StateChangeReturn.SUCCESS
                return e

        gst.ElementFactory = ElementFactory

        class Pipeline:
            @staticmethod
            def new(name):
                rt.pipeline = FakePipeline(rt)
                return rt.pipeline

        gst.Pipeline = Pipeline
        return gst

    def _main_loop(self):
        return MainLoop(self)

    # -- the streaming thread ----------------------------------------------------------------------
    def start(self, pipeline: FakePipeline) -> None:
        self.thread = threading.Thread(target=self._stream, args=(pipeline,), daemon=True)
        self.thread.start()

    def _stream(self, pipeline: FakePipeline) -> None:
        try:
            self._run_stream(pipeline)
        except Exception as e:  # a broken fake must end the run (an element error), not hang it
            pipeline.bus.post(Message(2, None, error=f"fake DeepStream: {type(e).__name__}: {e}"))
            raise

    def _run_stream(self, pipeline: FakePipeline) -> None:
        mux = next(e for e in pipeline.elements if e.factory == "nvstreammux")
        self.muxer_size = (mux.props.get("width"), mux.props.get("height"))
        self.pose = None
        for e in pipeline.elements:
            if e.factory == "nvinfer" and PoseSgie.is_pose(e.props.get("config-file-path")):
                self.pose = PoseSgie.from_config(e.props["config-file-path"])
        pads = {p.index: p for p in mux.request_pads}
        srcs = [e for e in pipeline.elements if e.factory == "nvurisrcbin"]
        bus = pipeline.bus
        for index, src in enumerate(srcs):
            self._start_source(src, pads[index], bus)
        probe_pad = pipeline.probe_pad()
        while not pipeline.stopped.is_set():
            batch, ended = [], []
            for index in sorted(pads):
                pad = pads[index]
                if pad.eos:
                    continue
                for _ in range(int(self.rng.integers(0, self.max_per_batch + 1))):
                    try:
                        item = pad.frames.get(timeout=0.05)
                    except queue.Empty:
                        break
                    if item is None:
                        pad.eos = True
                        ended.append(index)
                        break
                    batch.append(item)
            if batch:
                self._push(batch, probe_pad)
            if self.interrupt_after_batches is not None and self.batches_sent >= self.interrupt_after_batches:
                # Ctrl-C lands mid-stream: the stream goes no further until the pipeline is stopped (a
                # fast fake stream would otherwise end before the main loop sees the interrupt)
                pipeline.stopped.wait(timeout=30)
            for index in ended:
                self._event(Event("nv-stream-eos", **{"source-id": index}), probe_pad)
                bus.post(Message(4, mux, structure=Structure("stream-eos", **{"stream-id": index})))
            if all(p.eos for p in pads.values()):
                bus.post(Message(1, mux))
                return

    def _start_source(self, src: NvUriSrcBin, pad: MuxPad, bus: Bus) -> None:
        uri = src.props["uri"]
        child = Child(f"{src.name}-uridecodebin", src)
        if "://" not in uri:
            bus.post(Message(2, child, error=f'Invalid URI "{uri}"'))
            return
        source = self.sources[uri]
        for k, objects in enumerate(source.frames):
            if source.fail_at is not None and k == source.fail_at:
                bus.post(Message(2, Child(f"{src.name}-decoder", child), error="Internal data stream error"))
                return
            pad.frames.put((pad.index, k, objects, source))
        pad.frames.put(None)

    def _push(self, batch, probe_pad) -> None:
        frames = []
        for index, k, objects, source in batch:
            metas = []
            # nvstreammux scales every frame to its own resolution (no padding): boxes arrive in its pixels
            mw, mh = self.muxer_size
            sx, sy = (mw / source.size[0], mh / source.size[1]) if mw and mh else (1.0, 1.0)
            for oid, box, score, emb, *kp in objects:
                user = [tensor_user_meta(np.asarray(emb, np.float32))[0]] if emb is not None else []
                x, y, w, h = box
                scaled = (x * sx, y * sy, w * sx, h * sy)
                if self.pose is not None and self.pose.runs_on(0, scaled):
                    mux_kp = None
                    if kp and kp[0] is not None:
                        mux_kp = np.asarray(kp[0], np.float64) * [sx, sy, 1.0]
                    raw = pose_output(mux_kp, scaled, self.pose.net_w, self.pose.net_h)
                    user.append(pose_user_meta(raw, self.pose.gie_id, (self.pose.net_w, self.pose.net_h))[0])
                metas.append(obj_meta(UNTRACKED if oid < 0 else oid, scaled, conf=score, user_metas=user))
            frames.append(
                frame_meta(index, metas, frame_num=k, source_size=source.size, pts_ns=int(k / source.fps * 1e9))
            )
        address = 1000 + self.batches_sent
        self.pyds.batches[address] = batch_meta(frames)
        self.batches_sent += 1
        info = SimpleNamespace(get_buffer=lambda: _Buffer(address))
        for kind, callback, data in probe_pad.probes:
            if kind == self.gst.PadProbeType.BUFFER:
                self.probe_calls += 1
                callback(probe_pad, info, data)  # blocks when the probe blocks: the stream stalls

    def _event(self, event, probe_pad) -> None:
        info = SimpleNamespace(get_event=lambda: event)
        for kind, callback, data in probe_pad.probes:
            if kind == self.gst.PadProbeType.EVENT_DOWNSTREAM:
                callback(probe_pad, info, data)


class _Buffer:
    def __init__(self, address: int) -> None:
        self.address = address

    def __hash__(self) -> int:
        return self.address

    def __bool__(self) -> bool:
        return True


@dataclass
class FakePipeline:
    rt: Runtime
    elements: list = field(default_factory=list)
    bus: Bus = field(default_factory=Bus)
    stopped: threading.Event = field(default_factory=threading.Event)
    state: int = 1
    events: list = field(default_factory=list)  # events sent to the pipeline

    def add(self, e):
        self.elements.append(e)

    def get_bus(self):
        return self.bus

    def probe_pad(self):
        for e in self.elements:
            for pad in e.pads.values():
                if pad.probes:
                    return pad
        raise AssertionError("no probe attached")

    def set_state(self, state):
        gst = self.rt.gst
        if state == gst.State.PLAYING and self.state != state:
            self.rt.start(self)
        if state == gst.State.NULL:
            self.stopped.set()
        self.state = state
        return gst.StateChangeReturn.SUCCESS

    def send_event(self, event):
        self.events.append(event)
        if event == "eos":
            self.stopped.set()
            self.bus.post(Message(1, self))
        return True


class MainLoop:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.quit_event = threading.Event()
        self.bus: Bus | None = None
        self.interrupt_after_batches = rt.interrupt_after_batches

    def quit(self):
        self.quit_event.set()

    def run(self):
        pipeline_bus = self.rt.pipeline.bus
        while not self.quit_event.is_set():
            if self.interrupt_after_batches is not None and self.rt.batches_sent >= self.interrupt_after_batches:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the stream
            try:
                m = pipeline_bus.messages.get(timeout=0.05)
            except queue.Empty:
                continue
            for cb in pipeline_bus.callbacks:
                cb(pipeline_bus, m)
