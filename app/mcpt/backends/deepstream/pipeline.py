"""Building the DeepStream pipeline, element by element, as NVIDIA's Python samples do.

    nvurisrcbin x N -> nvstreammux (batch = N) -> nvinfer (detector) -> nvtracker (NvDCF)
      -> nvinfer (ReID SGIE, tensor output) [-> nvinfer (pose SGIE, tensor output)]
      -> [probe] -> tiler -> OSD -> encoder -> file / RTSP
                \\-> fakesink when no picture is wanted

Both SGIEs follow the tracker (they run on tracked people: one tensor per object per frame). The
pose SGIE comes last: the probe must sit after every SGIE whose tensors it reads, and with pose off
the pipeline is exactly the one without it.

``gst`` is the ``Gst`` module (or a fake with the same calls); nothing else is needed from it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from mcpt.errors import InputError
from mcpt.timebase import DEFAULT_FPS


def to_uri(path_or_uri: str | Path) -> str:
    """A URI for nvurisrcbin (and deepstream-app): it wraps uridecodebin, which rejects a bare path."""
    text = str(path_or_uri)
    if "://" in text:
        return text
    return Path(text).resolve().as_uri()


@dataclass(frozen=True)
class SourceSpec:
    camera_id: int
    uri: str

    @property
    def live(self) -> bool:
        return self.uri.lower().startswith(("rtsp://", "rtsps://"))


@dataclass
class PipelineSpec:
    sources: list[SourceSpec]
    pgie_config: Path
    tracker_config: Path
    sgie_config: Path | None  # None: the tracker's ReID vector is used
    pose_config: Path | None = None  # the pose SGIE's nvinfer config (None: no pose model runs)
    muxer_width: int = 1920
    muxer_height: int = 1080
    gpu_id: int = 0
    fps: float = DEFAULT_FPS
    tracker_width: int = 960
    tracker_height: int = 544
    tracker_lib: str = "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so"
    reid_batch: int = 64
    pose_batch: int = 64
    rtsp_latency_ms: int = 200
    rtsp_reconnect_s: int = 5
    rtsp_reconnect_attempts: int = -1  # forever
    output: str = "none"  # none | file | rtsp
    output_path: str = "mcpt_ds.mp4"
    rtsp_udp_port: int = 5400
    tile_width: int = 1920
    tile_height: int = 1080
    bitrate: int = 4_000_000
    encoder: str = "hw"  # hw: nvv4l2h264enc (NVENC); sw: x264enc (A100/H100/H200 have no NVENC)

    @property
    def batch_size(self) -> int:
        return len(self.sources)

    @property
    def live(self) -> bool:
        return any(s.live for s in self.sources)

    @property
    def push_timeout_us(self) -> int:
        """How long streammux waits to fill a batch: one frame period for live cameras, 40 ms for files."""
        return int(1e6 / self.fps) if self.live else 40000

    def tiler_grid(self) -> tuple[int, int]:
        rows = max(1, int(math.sqrt(self.batch_size)))
        return rows, math.ceil(self.batch_size / rows)


@dataclass
class BuiltPipeline:
    pipeline: object
    elements: dict[str, object] = field(default_factory=dict)
    probe_pad: object | None = None
    mux_pads: dict[int, object] = field(default_factory=dict)  # camera id -> its nvstreammux sink pad


def _make(gst, factory: str, name: str, props: dict | None = None):
    element = gst.ElementFactory.make(factory, name)
    if element is None:
        raise InputError(
            None, f"GStreamer element {factory!r} is not available (is DeepStream installed and GST_PLUGIN_PATH set?)"
        )
    for key, value in (props or {}).items():
        element.set_property(key, value)
    return element


def source_properties(spec: PipelineSpec, src: SourceSpec) -> dict:
    props = {"uri": src.uri, "gpu-id": spec.gpu_id, "cudadec-memtype": 0, "source-id": src.camera_id}
    if src.live:
        props.update(
            {
                "select-rtp-protocol": 4,  # TCP only
                "latency": spec.rtsp_latency_ms,
                "rtsp-reconnect-interval": spec.rtsp_reconnect_s,
                "rtsp-reconnect-attempts": spec.rtsp_reconnect_attempts,
            }
        )
    return props


def _link_chain(elements: list) -> None:
    for a, b in itertools.pairwise(elements):
        if not a.link(b):
            raise InputError(None, f"cannot link {a.get_name()} -> {b.get_name()}")


def build_pipeline(gst, spec: PipelineSpec, probe=None) -> BuiltPipeline:
    if not spec.sources:
        raise InputError(None, "no cameras to run")
    pipeline = gst.Pipeline.new("mcpt")
    built = BuiltPipeline(pipeline)
    els = built.elements

    def add(factory: str, name: str, props: dict | None = None):
        e = _make(gst, factory, name, props)
        pipeline.add(e)
        els[name] = e
        return e

    mux = add(
        "nvstreammux",
        "muxer",
        {
            "batch-size": spec.batch_size,
            "width": spec.muxer_width,
            "height": spec.muxer_height,
            "batched-push-timeout": spec.push_timeout_us,
            "live-source": 1 if spec.live else 0,
            "gpu-id": spec.gpu_id,
            "enable-padding": 0,
            "nvbuf-memory-type": 0,
        },
    )
    for index, src in enumerate(spec.sources):
        source = add("nvurisrcbin", f"source-{index}", source_properties(spec, src))
        sink_pad = mux.request_pad_simple(f"sink_{index}")
        if sink_pad is None:
            raise InputError(None, f"nvstreammux gave no sink pad for camera {src.camera_id}")
        source.connect("pad-added", _on_pad_added, sink_pad)
        built.mux_pads[src.camera_id] = sink_pad

    chain = [mux, add("queue", "q-pgie")]
    chain.append(
        add(
            "nvinfer",
            "pgie",
            {"config-file-path": str(spec.pgie_config), "batch-size": spec.batch_size, "gpu-id": spec.gpu_id},
        )
    )
    chain.append(add("queue", "q-tracker"))
    chain.append(
        add(
            "nvtracker",
            "tracker",
            {
                "ll-lib-file": spec.tracker_lib,
                "ll-config-file": str(spec.tracker_config),
                "tracker-width": spec.tracker_width,
                "tracker-height": spec.tracker_height,
                "gpu-id": spec.gpu_id,
                "display-tracking-id": 1,
            },
        )
    )
    if spec.sgie_config is not None:
        chain.append(add("queue", "q-reid"))
        chain.append(
            add(
                "nvinfer",
                "reid",
                {"config-file-path": str(spec.sgie_config), "batch-size": spec.reid_batch, "gpu-id": spec.gpu_id},
            )
        )
    if spec.pose_config is not None:
        chain.append(add("queue", "q-pose"))
        chain.append(
            add(
                "nvinfer",
                "pose",
                {"config-file-path": str(spec.pose_config), "batch-size": spec.pose_batch, "gpu-id": spec.gpu_id},
            )
        )
    probe_element = chain[-1]  # the last SGIE (or the tracker): every tensor the probe reads is attached
    chain.append(add("queue", "q-out"))
    if spec.output == "none":
        chain.append(add("fakesink", "sink", {"sync": 0, "async": 0, "enable-last-sample": 0}))
    elif spec.output in ("file", "rtsp"):
        rows, cols = spec.tiler_grid()
        chain += [
            add(
                "nvmultistreamtiler",
                "tiler",
                {
                    "rows": rows,
                    "columns": cols,
                    "width": spec.tile_width,
                    "height": spec.tile_height,
                    "gpu-id": spec.gpu_id,
                },
            ),
            add("nvvideoconvert", "conv-osd", {"gpu-id": spec.gpu_id}),
            add("nvdsosd", "osd", {"process-mode": 0, "display-text": 1, "gpu-id": spec.gpu_id}),
            add("nvvideoconvert", "conv-enc", {"gpu-id": spec.gpu_id}),
            *_encoder(add, gst, spec),
        ]
        if spec.output == "file":
            chain += [
                add("h264parse", "parse"),
                add("qtmux", "mux-mp4"),
                add("filesink", "sink", {"location": spec.output_path, "sync": 0, "async": 0}),
            ]
        else:
            chain += [
                add("rtph264pay", "payloader"),
                add("udpsink", "sink", {"host": "127.0.0.1", "port": spec.rtsp_udp_port, "sync": 0, "async": 0}),
            ]
    else:
        raise InputError(None, f"unknown output {spec.output!r}; expected none, file or rtsp", field="output")
    _link_chain(chain)
    built.probe_pad = probe_element.get_static_pad("src")
    if probe is not None:
        built.probe_pad.add_probe(gst.PadProbeType.BUFFER, probe, 0)
        if hasattr(probe, "event"):  # per-camera end of stream, in band with the batches
            built.probe_pad.add_probe(gst.PadProbeType.EVENT_DOWNSTREAM, probe.event, 0)
    return built


def _encoder(add, gst, spec: PipelineSpec) -> list:
    """H.264 on NVENC (frames stay in GPU memory), or x264 in software from system memory (as NVIDIA's
    rtsp-out sample's software-encoder option) for GPUs without NVENC."""
    if spec.encoder == "hw":
        return [
            add("capsfilter", "caps-enc", {"caps": gst.Caps.from_string("video/x-raw(memory:NVMM), format=I420")}),
            add("nvv4l2h264enc", "encoder", {"bitrate": spec.bitrate, "gpu-id": spec.gpu_id}),
        ]
    if spec.encoder == "sw":
        return [
            add("capsfilter", "caps-enc", {"caps": gst.Caps.from_string("video/x-raw, format=I420")}),
            add("x264enc", "encoder", {"bitrate": spec.bitrate // 1000, "speed-preset": 1, "tune": 4}),
        ]
    raise InputError(None, f"unknown encoder {spec.encoder!r}; expected hw or sw", field="--encoder")


def choose_encoder(gst, requested: str) -> str:
    """``auto``: NVENC if the element exists and the GPU has the hardware (the element reaches READY), else
    the software encoder."""
    if requested != "auto":
        return requested
    enc = gst.ElementFactory.make("nvv4l2h264enc", None)
    if enc is not None and enc.set_state(gst.State.READY) != gst.StateChangeReturn.FAILURE:
        enc.set_state(gst.State.NULL)
        return "hw"
    return "sw"


def _on_pad_added(source, pad, sink_pad) -> None:
    """nvurisrcbin's decoded video pad appears once the stream is known: link it to its streammux pad."""
    caps = pad.get_current_caps() or pad.query_caps(None)
    name = caps.get_structure(0).get_name() if caps is not None else ""
    if not name.startswith("video") or sink_pad.is_linked():
        return
    pad.link(sink_pad)


RTSP_OUT_LAUNCH = (
    "( udpsrc name=pay0 port={port} buffer-size=524288 "
    'caps="application/x-rtp, media=video, clock-rate=90000, encoding-name=(string)H264, payload=96" )'
)
