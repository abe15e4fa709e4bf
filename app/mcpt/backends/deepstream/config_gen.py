"""``mcpt ds-config``: a complete deepstream-app configuration for one scene, from the templates.

Batch sizes agree everywhere (streammux = primary GIE = cameras; each SGIE's = its engine's),
engine file names are those ``mcpt engines`` builds (``<onnx>_b<B>_gpu<G>_<precision>.engine``),
so neither deepstream-app nor ``mcpt run --backend deepstream`` rebuilds an engine at start-up.
With ``pose`` a second tensor-output SGIE runs the manifest's pose model on the same people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from mcpt.backends.deepstream.pipeline import SourceSpec, to_uri
from mcpt.errors import InputError
from mcpt.models.engine_names import NETWORK_MODE, TRACKER_NETWORK_MODE, engine_path
from mcpt.models.manifest import Manifest, detector_operating_points, repo_root
from mcpt.timebase import DEFAULT_FPS

PARSER_LIB = "plugins/nvdsinfer_custom_impl_mcpt/libnvdsinfer_custom_impl_mcpt.so"
KAFKA_LIB = "/opt/nvidia/deepstream/deepstream/lib/libnvds_kafka_proto.so"
# gie-unique-id of each nvinfer: the probe tells the SGIEs' tensors apart by these
PGIE_ID, REID_GIE_ID, POSE_GIE_ID = 1, 2, 3
# the people's class ids in nvinfer's metadata: mcpt's parser writes classId 0 for every person class the
# detector scores (plugins/nvdsinfer_custom_impl_mcpt/mcpt_decode.cpp), so the SGIEs operate on class 0
PERSON_CLASS_IDS = (0,)
# the smallest person (streammux pixels) the pose SGIE runs on: the ReID SGIE's minimum, so both cover the
# same people; smaller ones keep no pose (NaN rows), as nvinfer skips them
POSE_MIN_WIDTH, POSE_MIN_HEIGHT = 16, 32


def templates_dir() -> Path:
    return repo_root() / "deepstream_configs"


def render(name: str, **values) -> str:
    path = templates_dir() / name
    if not path.is_file():
        raise InputError(path, "template missing (a checkout of mcpt has deepstream_configs/)")
    try:
        return Template(path.read_text()).substitute(**values)
    except KeyError as e:
        raise InputError(path, f"template needs {e.args[0]!r}") from None


@dataclass
class DsOptions:
    muxer_width: int = 1920
    muxer_height: int = 1080
    gpu_id: int = 0
    precision: str = "fp16"
    reid_batch: int = 64
    tracker_reid: bool = False  # the tracker computes ReID vectors instead of an SGIE
    pose: bool = False  # a pose SGIE (the manifest's pose model) on every tracked person
    pose_batch: int = 64  # the pose SGIE's batch-size (= its engine's)
    pose_onnx: str | None = None  # another pose ONNX with the manifest model's interface (mcpt run --pose FILE)
    sink: str = "fake"  # fake | file | rtsp
    output_file: str = "out.mp4"
    rtsp_port: int = 8554
    udp_port: int = 5400
    msgbroker: str | None = None  # "host;port" of a Kafka broker
    msgbroker_lib: str = KAFKA_LIB
    topic: str = "mcpt"
    fps: float = DEFAULT_FPS  # processing rate (the videos' own for a scene folder)
    conf: float | None = None  # nvinfer pre-cluster-threshold and NvDCF minDetectorConfidence (None: track_low of
    # the detector's operating points in models.yaml, as the CPU backend uses)
    nms_iou: float = 0.45
    interval: int = 0  # nvinfer interval: batches skipped between detections (mcpt's detector.interval)
    latency_ms: int = 200
    reconnect_s: int = 5
    reconnect_attempts: int = -1
    tracker_width: int = 960
    tracker_height: int = 544
    tile_width: int = 1920
    tile_height: int = 1080
    encoder: str = "hw"  # video sinks: hw (NVENC) or sw (x264; A100/H100/H200 have no NVENC)


@dataclass
class GeneratedConfig:
    out_dir: Path
    app: Path
    pgie: Path
    sgie: Path | None
    tracker: Path
    detector_engine: Path
    reid_engine: Path
    files: list[Path] = field(default_factory=list)
    pose: Path | None = None  # the pose SGIE's nvinfer config (None: no pose SGIE)
    pose_engine: Path | None = None


ENC_TYPE = {"hw": 0, "sw": 1}  # deepstream-app sink enc-type: NVENC, or the software encoder (x264)


def sink_section(opts: DsOptions, out_dir: Path) -> str:
    if opts.sink == "fake":
        return "type=1\nsync=0"
    if opts.encoder not in ENC_TYPE:
        raise InputError(None, f"expected hw or sw, got {opts.encoder!r}", field="--encoder")
    # A100/H100 have no NVENC: their sinks need the software encoder
    encoded = f"codec=1\nenc-type={ENC_TYPE[opts.encoder]}\nbitrate=4000000\nsync=0"
    if opts.sink == "file":
        return f"type=3\ncontainer=1\n{encoded}\noutput-file={out_dir / opts.output_file}"
    if opts.sink == "rtsp":
        return f"type=4\n{encoded}\nrtsp-port={opts.rtsp_port}\nudp-port={opts.udp_port}"
    raise InputError(None, f"unknown sink {opts.sink!r}; expected fake, file or rtsp", field="--sink")


# NvDCF's ReID-based re-association of its own tracks (Gst-nvtracker documentation's defaults); on only
# where the tracker computes embeddings (reidType 2)
REASSOC = """  enableReAssoc: 1
  minMatchingScore4Overall: 0.4
  minTrackletMatchingScore: 0.4
  minMatchingScore4ReidSimilarity: 0.8
  matchingScoreWeight4TrackletSimilarity: 0.6
  matchingScoreWeight4ReidSimilarity: 0.4
  reidExtractionInterval: 0   # embeddings every frame: mcpt reads them per object"""


def tracker_reid_section(manifest: Manifest, opts: DsOptions, reid_engine: Path) -> str:
    """NvDCF's ReID section. With an SGIE computing the embeddings mcpt reads, the tracker runs no ReID
    model of its own (reidType 0). With ``tracker_reid`` it computes them on mcpt's ReID model, outputs
    them per object, and re-associates its own tracks with them, as NVIDIA pairs reidType 2."""
    if not opts.tracker_reid:
        return "ReID:\n  reidType: 0  # the ReID SGIE computes the embeddings; no second inference here"
    r = manifest.reid
    return "\n".join(
        [
            "ReID:",
            "  reidType: 2  # re-association of NvDCF's own tracks",
            "  outputReidTensor: 1",
            f"  batchSize: {opts.reid_batch}",
            "  workspaceSize: 1000",
            f"  reidFeatureSize: {r.embedding_dim or 256}",
            "  reidHistorySize: 100",
            f"  inferDims: [3, {r.height}, {r.width}]",
            f"  networkMode: {TRACKER_NETWORK_MODE[opts.precision]}",
            "  inputOrder: 0",
            "  colorFormat: 0",
            "  offsets: [0.0, 0.0, 0.0]",
            "  netScaleFactor: 1.0  # the model normalises inside its graph",
            "  keepAspc: 0",
            "  addFeatureNormalization: 1",
            f"  onnxFile: {r.onnx}",
            f"  modelEngineFile: {reid_engine}",
        ]
    )


def generate(
    scene: str, sources: list[SourceSpec], manifest: Manifest, out_dir: str | Path, opts: DsOptions | None = None
) -> GeneratedConfig:
    opts = opts or DsOptions()
    if opts.precision not in NETWORK_MODE:
        raise InputError(None, f"precision must be one of {', '.join(NETWORK_MODE)}", field="--precision")
    if not sources:
        raise InputError(None, f"{scene}: no cameras")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    n = len(sources)
    det, reid = manifest.detector, manifest.reid
    det_engine = engine_path(det.onnx, n, opts.gpu_id, opts.precision)
    reid_engine = engine_path(reid.onnx, opts.reid_batch, opts.gpu_id, opts.precision)
    mode = NETWORK_MODE[opts.precision]
    conf = opts.conf if opts.conf is not None else detector_operating_points(manifest)[0].track_low
    int8 = f"int8-calib-file={det.onnx.with_suffix('.int8.cache')}\n" if opts.precision == "int8" else ""

    pgie = out / "config_infer_primary.txt"
    pgie.write_text(
        render(
            "config_infer_primary_yolov8.txt.in",
            gpu_id=opts.gpu_id,
            onnx=det.onnx,
            engine=det_engine,
            batch=n,
            network_mode=mode,
            height=det.height,
            width=det.width,
            parser_lib=repo_root() / PARSER_LIB,
            int8_calib=int8,
            conf=conf,
            nms_iou=opts.nms_iou,
            interval=opts.interval,
        )
    )
    sgie = out / "config_infer_reid.txt"
    sgie.write_text(
        render(
            "config_infer_secondary_reid.txt.in",
            gpu_id=opts.gpu_id,
            onnx=reid.onnx,
            engine=reid_engine,
            batch=opts.reid_batch,
            network_mode=mode,
            height=reid.height,
            width=reid.width,
        )
    )
    pose_cfg, pose_engine, pose_section = None, None, ""
    if opts.pose:
        pose_cfg, pose_engine = write_pose_sgie(manifest, opts, out)
        pose_section = render(
            "secondary_gie_pose.txt.in",
            gpu_id=opts.gpu_id,
            pose_batch=opts.pose_batch,
            gie_id=POSE_GIE_ID,
            pgie_id=PGIE_ID,
            class_ids=";".join(str(c) for c in PERSON_CLASS_IDS),
        )
    tracker = out / "config_tracker.yml"
    tracker.write_text(
        render(
            "config_tracker_NvDCF.yml.in",
            reid=tracker_reid_section(manifest, opts, reid_engine),
            reassoc=REASSOC if opts.tracker_reid else "  enableReAssoc: 0",
            min_confidence=conf,
        )
    )

    parts = []
    for i, s in enumerate(sources):
        common = {"index": i, "camera_id": s.camera_id, "uri": to_uri(s.uri), "gpu_id": opts.gpu_id}
        if s.live:
            parts.append(
                render(
                    "source_rtsp.txt.in",
                    **common,
                    latency_ms=opts.latency_ms,
                    reconnect_s=opts.reconnect_s,
                    reconnect_attempts=opts.reconnect_attempts,
                )
            )
        else:
            parts.append(render("source_file.txt.in", **common))
    live = any(s.live for s in sources)
    rows = max(1, int(math.sqrt(n)))
    files = [pgie, sgie, tracker, *([pose_cfg] if pose_cfg else [])]
    msgbroker = ""
    if opts.msgbroker:
        msgbroker = render(
            "sink_msgbroker.txt.in", proto_lib=opts.msgbroker_lib, conn_str=opts.msgbroker, topic=opts.topic
        )
        conv = out / "msgconv_config.txt"
        conv.write_text(
            "".join(
                f"[sensor{i}]\nenable=1\ntype=Camera\nid=camera_{s.camera_id:04d}\n"
                f"description={scene} camera {s.camera_id}\nlocation=0;0;0\ncoordinate=0;0;0\n\n"
                for i, s in enumerate(sources)
            )
        )
        files.append(conv)
    app = out / "deepstream_app.txt"
    app.write_text(
        render(
            "deepstream_app.txt.in",
            scene=scene,
            cameras=n,
            reid_batch=opts.reid_batch,
            out_dir=out,
            tiler_rows=rows,
            tiler_columns=math.ceil(n / rows),
            tile_width=opts.tile_width,
            tile_height=opts.tile_height,
            gpu_id=opts.gpu_id,
            sources="".join(parts),
            live_source=int(live),
            push_timeout_us=int(1e6 / opts.fps) if live else 40000,
            muxer_width=opts.muxer_width,
            muxer_height=opts.muxer_height,
            tracker_width=opts.tracker_width,
            tracker_height=opts.tracker_height,
            sink0=sink_section(opts, out),
            msgbroker=msgbroker,
            secondary_pose=pose_section,
        )
    )
    if opts.tracker_reid:
        text = app.read_text().replace("[secondary-gie0]\nenable=1", "[secondary-gie0]\nenable=0")
        app.write_text(text)
    return GeneratedConfig(
        out,
        app,
        pgie,
        None if opts.tracker_reid else sgie,
        tracker,
        det_engine,
        reid_engine,
        [app, *files],
        pose_cfg,
        pose_engine,
    )


def write_pose_sgie(manifest: Manifest, opts: DsOptions, out: Path) -> tuple[Path, Path]:
    """``config_infer_pose.txt``: the manifest's pose model as a tensor-output SGIE; returns it and its engine."""
    spec = manifest.pose
    if spec is None:
        raise InputError(manifest.path, "no pose model: add `pose: <name>` and its entry", field="pose")
    onnx = Path(opts.pose_onnx).resolve() if opts.pose_onnx else spec.onnx
    engine = engine_path(onnx, opts.pose_batch, opts.gpu_id, opts.precision)
    path = out / "config_infer_pose.txt"
    int8 = f"int8-calib-file={onnx.with_suffix('.int8.cache')}\n" if opts.precision == "int8" else ""
    path.write_text(
        render(
            "config_infer_secondary_pose.txt.in",
            gpu_id=opts.gpu_id,
            onnx=onnx,
            engine=engine,
            batch=opts.pose_batch,
            network_mode=NETWORK_MODE[opts.precision],
            gie_id=POSE_GIE_ID,
            pgie_id=PGIE_ID,
            class_ids=";".join(str(c) for c in PERSON_CLASS_IDS),
            height=spec.height,
            width=spec.width,
            min_width=POSE_MIN_WIDTH,
            min_height=POSE_MIN_HEIGHT,
            output=pose_output_name(spec),
            int8_calib=int8,
        )
    )
    return path, engine


def pose_output_name(spec) -> str:
    """The pose model's output tensor (models.yaml ``output.name``; ``mcpt export pose`` names it poses)."""
    return str((spec.output or {}).get("name") or "poses")
