"""``mcpt run --backend deepstream``: the DeepStream pipeline for a scene, live cameras or a split.

Imports gi/Gst/pyds here only. The pipeline runs in a GLib main loop; the probe hands metadata
to the association worker thread; bus errors from one camera are logged (RTSP cameras reconnect
through nvurisrcbin) while the scene goes on; end of stream drains the worker and closes results.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
from pathlib import Path

from mcpt.backends.deepstream.config_gen import POSE_GIE_ID, REID_GIE_ID, DsOptions, generate, pose_output_name
from mcpt.backends.deepstream.pipeline import SourceSpec, to_uri
from mcpt.config import Config
from mcpt.errors import InputError
from mcpt.stopping import StopRequest

log = logging.getLogger(__name__)


def import_deepstream():
    """gi + Gst + pyds, or one clear error (PyPI's `pyds` is an unrelated package)."""
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import GLib, Gst
    except (ImportError, ValueError):
        raise InputError(
            None,
            "the DeepStream backend needs GStreamer's Python bindings (gi); run it inside the "
            "DeepStream container (see the Dockerfile)",
        ) from None
    try:
        import pyds
    except ImportError:
        raise InputError(
            None,
            "the DeepStream backend needs NVIDIA's pyds (DeepStream Python bindings, not PyPI's "
            "`pyds`); install its wheel as the Dockerfile does",
        ) from None
    if not hasattr(pyds, "gst_buffer_get_nvds_batch_meta"):
        raise InputError(
            None,
            "the installed `pyds` is not NVIDIA's DeepStream bindings (PyPI's `pyds` is an "
            "unrelated package): pip uninstall pyds, then install NVIDIA's wheel",
        )
    Gst.init(None)
    if Gst.ElementFactory.find("nvstreammux") is None:
        raise InputError(None, "GStreamer has no nvstreammux: DeepStream is not installed or GST_PLUGIN_PATH is wrong")
    return GLib, Gst, pyds


def assign_scenes(scenes: list, gpus: list[int]) -> dict[int, list]:
    """Round-robin scenes over GPUs: one process per GPU runs its scenes one after another."""
    if not gpus:
        raise InputError(None, "expected at least one GPU id", field="--gpus")
    plan: dict[int, list] = {g: [] for g in gpus}
    for i, scene in enumerate(scenes):
        plan[gpus[i % len(gpus)]].append(scene)
    return plan


def gpu_commands(
    plan: dict[int, list], out_dir: Path, extra: list[str], video_dir: Path | None = None
) -> list[list[str]]:
    """One ``mcpt run`` per scene on its GPU; ``extra`` carries the run's own options (rate, config, encoder ...)
    and ``video_dir`` a tiled video per scene."""
    cmds = []
    for gpu, scenes in plan.items():
        for scene in scenes:
            video = ["--video", str(video_dir / f"{scene.name}.mp4")] if video_dir else []
            cmds.append(
                [
                    sys.executable,
                    "-m",
                    "mcpt",
                    "run",
                    str(scene.path),
                    "--backend",
                    "deepstream",
                    "--out",
                    str(out_dir / f"{scene.name}.txt"),
                    "--gpu-id",
                    str(gpu),
                    *video,
                    *extra,
                ]
            )
    return cmds


def run_multi_gpu(scenes: list, gpus: list[int], out_dir: Path, extra: list[str], video_dir: Path | None = None) -> int:
    """One scene per GPU at a time, all GPUs in parallel; then merge."""
    from mcpt.scene.results import merge_results

    out_dir.mkdir(parents=True, exist_ok=True)
    if video_dir:
        video_dir.mkdir(parents=True, exist_ok=True)
    plan = assign_scenes(scenes, gpus)
    queues = {g: gpu_commands({g: s}, out_dir, extra, video_dir) for g, s in plan.items()}
    running: dict[int, subprocess.Popen] = {}
    failed = []
    while any(queues.values()) or running:
        for gpu, cmds in queues.items():
            if gpu not in running and cmds:
                cmd = cmds.pop(0)
                log.info("GPU %d: %s", gpu, " ".join(cmd))
                running[gpu] = subprocess.Popen(cmd)
        for gpu, proc in list(running.items()):
            if proc.poll() is not None:
                if proc.returncode != 0:
                    failed.append((gpu, proc.args))
                del running[gpu]
        time.sleep(0.5)
    if failed:
        for gpu, args in failed:
            log.error("GPU %d failed: %s", gpu, " ".join(args))
        return 1
    merged, n = merge_results(out_dir)
    print(f"wrote {merged} ({n} rows)")
    return 0


EOS_WAIT_S = 10.0  # on a stop request, how long the pipeline may take to push its end of stream through


def run_scene(
    name: str,
    sources: list[SourceSpec],
    calibrations: dict,
    cfg: Config,
    out: Path,
    work_dir: Path,
    opts: DsOptions,
    video: str | None = None,
    runtime=None,
    dump: Path | None = None,
    duration: float | None = None,
) -> dict:
    """One scene through the DeepStream pipeline: results in ``out``, a report as a dict.

    ``runtime`` is (GLib, Gst, pyds); by default the real ones (tests pass fakes that behave like them).
    """
    from mcpt.backends.deepstream.pipeline import PipelineSpec, build_pipeline, choose_encoder
    from mcpt.backends.deepstream.probe import MetaReader, ProbeHandler
    from mcpt.backends.deepstream.worker import AssociationWorker, StepConverter
    from mcpt.models.manifest import load_manifest
    from mcpt.sources.camera import video_fps

    GLib, Gst, pyds = runtime or import_deepstream()
    manifest = load_manifest()
    if cfg.pose.enabled and not opts.pose:
        opts = dataclasses.replace(opts, pose=True)  # pose.enabled: the pose SGIE runs
    sources = [SourceSpec(s.camera_id, to_uri(s.uri)) for s in sources]
    generated = generate(name, sources, manifest, work_dir, opts)
    for engine in (generated.detector_engine, generated.reid_engine, generated.pose_engine):
        if engine is not None and not engine.is_file():
            log.warning(
                "%s is missing: nvinfer will build it at start-up (minutes); run `make engines` first", engine.name
            )
    live = any(s.live for s in sources)
    # each file camera's own rate times its frames (frame_num / rate); live cameras use presentation times
    rates = {s.camera_id: (None if s.live else video_fps(s.uri.removeprefix("file://"))) for s in sources}
    output = "none" if not video else ("rtsp" if video.startswith("rtsp") else "file")
    spec = PipelineSpec(
        sources=sources,
        pgie_config=generated.pgie,
        tracker_config=generated.tracker,
        sgie_config=generated.sgie,
        pose_config=generated.pose,
        muxer_width=opts.muxer_width,
        muxer_height=opts.muxer_height,
        gpu_id=opts.gpu_id,
        fps=opts.fps,
        reid_batch=opts.reid_batch,
        pose_batch=opts.pose_batch,
        output=output,
        output_path=video or "",
        rtsp_udp_port=opts.udp_port,
        encoder=choose_encoder(Gst, opts.encoder) if output != "none" else "hw",
    )
    reader = MetaReader(
        pyds,
        {i: s.camera_id for i, s in enumerate(sources)},
        (opts.muxer_width, opts.muxer_height),
        sgie_id=None if opts.tracker_reid else REID_GIE_ID,
        embedding_dim=manifest.reid.embedding_dim,
        box_width_scale=manifest.detector.box_width_scale,
        reid_layer=str(manifest.reid.output.get("name") or "embedding"),
    )
    if generated.pose is not None:  # generate() checked that the manifest names a pose model
        pose = manifest.pose
        reader.pose_sgie_id, reader.pose_layer = POSE_GIE_ID, pose_output_name(pose)
        reader.pose_input = (pose.width, pose.height)
    probe = ProbeHandler(reader, Gst.PadProbeReturn.OK, blocking=not live)
    converter = StepConverter(name, calibrations, cfg, manifest.reid.embedding_dim or 1)
    worker = AssociationWorker(probe.queue, converter, cfg, out, opts.fps, rates, live, dump)
    built = build_pipeline(Gst, spec, probe)
    if output == "rtsp":
        serve_rtsp(opts)
    loop = GLib.MainLoop()
    camera_of_element = {f"source-{i}": s.camera_id for i, s in enumerate(sources)}
    ended: set[int] = set()
    errors: dict[int, str] = {}

    def camera_of(obj) -> int | None:
        """The camera whose source bin holds the element that posted a message (errors come from children)."""
        while obj is not None:
            if obj.get_name() in camera_of_element:
                return camera_of_element[obj.get_name()]
            obj = obj.get_parent()
        return None

    def end_camera(cam: int) -> None:
        """A video camera that failed ends its stream: nvstreammux sends its own end of stream only once
        every sink pad had one, so the failed camera's pad gets it now (the others go on). nvstreammux
        then passes the camera's end of stream downstream in band, after its last frame, to the probe."""
        if cam not in ended:
            ended.add(cam)
            built.mux_pads[cam].send_event(Gst.Event.new_eos())

    def on_message(bus, message) -> bool:
        t = message.type
        if t == Gst.MessageType.EOS:
            loop.quit()
        elif t == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            cam = camera_of(message.src)
            if cam is None:
                log.error("%s: %s (%s)", message.src.get_name() if message.src else "?", err, debug)
                errors[-1] = str(err)
                loop.quit()
            elif cam not in errors:
                errors[cam] = str(err)
                live_cam = next(s.live for s in sources if s.camera_id == cam)
                if live_cam:
                    log.error("camera %s: %s (nvurisrcbin reconnects; the others go on)", cam, err)
                else:
                    log.error("camera %s: %s; its stream ends, the others go on", cam, err)
                    end_camera(cam)
        elif t == Gst.MessageType.ELEMENT:
            st = message.get_structure()
            if st is not None and st.get_name() == "stream-eos":
                ok, sid = st.get_uint("stream-id")
                if ok and sid < len(sources):
                    ended.add(sources[sid].camera_id)
                    log.info("camera %s: end of stream", sources[sid].camera_id)
        return True

    bus = built.pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    worker.start()
    built.pipeline.set_state(Gst.State.PLAYING)
    # SIGINT/SIGTERM (once) or --duration leave the main loop; the stream is then ended as below
    stop = StopRequest(duration, on_stop=loop.quit)
    try:
        with stop:
            loop.run()
        interrupted = stop.reason is not None
    except KeyboardInterrupt:
        interrupted = True
    try:
        if interrupted:
            # the muxer writes an mp4's index at end of stream: push one through, wait for it, then stop
            log.warning("stopping: ending the stream and the results file")
            built.pipeline.send_event(Gst.Event.new_eos())
            bus.timed_pop_filtered(int(EOS_WAIT_S * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR)
    finally:
        built.pipeline.set_state(Gst.State.NULL)
        probe.stopping.set()
        worker.finish()
        worker.join()
    if worker.error:
        raise worker.error
    return {
        "summary": worker.summary,
        "probe": probe.stats,
        "errors": errors,
        "ended": sorted(ended),
        "late": dict(worker.assembler.stats.late),
        "stopped": stop.reason,
    }


def serve_rtsp(opts: DsOptions) -> None:
    """Re-serve the annotated UDP stream as rtsp://<host>:<port>/mcpt (as NVIDIA's rtsp-out samples do)."""
    import gi

    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GstRtspServer

    from mcpt.backends.deepstream.pipeline import RTSP_OUT_LAUNCH

    server = GstRtspServer.RTSPServer.new()
    server.props.service = str(opts.rtsp_port)
    factory = GstRtspServer.RTSPMediaFactory.new()
    factory.set_launch(RTSP_OUT_LAUNCH.format(port=opts.udp_port))
    factory.set_shared(True)
    server.get_mount_points().add_factory("/mcpt", factory)
    server.attach(None)
    log.info("annotated stream at rtsp://<host>:%d/mcpt", opts.rtsp_port)


def main_deepstream(args, cfg: Config) -> int:
    from mcpt.models.manifest import detector_operating_points, load_manifest, reid_appearance_scale
    from mcpt.scene.cameras import CameraFailures, cameras_from_scene, cameras_from_yaml, load_calibrations
    from mcpt.scene.layout import discover_scenes
    from mcpt.sources.camera import is_live, video_fps
    from mcpt.table import format_table, tail_note
    from mcpt.timebase import DEFAULT_FPS

    opts = DsOptions(
        gpu_id=getattr(args, "gpu_id", 0) or 0,
        fps=args.fps or DEFAULT_FPS,
        tracker_reid=args.tracker_reid,
        encoder=args.encoder,
        interval=cfg.detector.interval,
        pose=cfg.pose.enabled,  # --pose or pose.enabled: the pose SGIE
        pose_onnx=getattr(args, "pose", None) or None,
    )
    if args.gpus or (args.scene and len(discover_scenes(args.scene)) > 1):
        gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else [opts.gpu_id]
        return run_multi_gpu(
            discover_scenes(args.scene),
            gpus,
            Path(args.out),
            passthrough_args(args),
            Path(args.video) if args.video else None,
        )
    if args.cameras:
        name, cams, fps = cameras_from_yaml(args.cameras)
        opts.fps = args.fps or fps or DEFAULT_FPS
    else:
        scene = discover_scenes(args.scene)[0]
        name, cams = scene.name, cameras_from_scene(scene)
        rates = [r for r in (video_fps(c.uri) for c in cams) if r]
        opts.fps = args.fps or (min(rates) if rates else DEFAULT_FPS)
    manifest = load_manifest()
    # the tracker's own ReID (--tracker-reid) is configured in its YAML, not in models.yaml: reference scale
    scale = 1.0 if opts.tracker_reid else reid_appearance_scale(manifest)[0]
    cfg = cfg.for_scene(name).with_operating_points(detector_operating_points(manifest)[0]).with_appearance_scale(scale)
    # the failure policy of every command: cameras that cannot start are left out and reported
    failures = CameraFailures()
    calibs = load_calibrations(cams, failures)
    for c in cams:
        if not is_live(c.uri) and not Path(c.uri.removeprefix("file://")).is_file():
            failures.fail(c.camera_id, f"video not found: {c.uri}")
    failures.check(len(cams), args.strict, name)
    sources = [SourceSpec(c.camera_id, c.uri) for c in cams if c.camera_id in calibs and c.camera_id not in failures]
    out = Path(args.out)
    dump = Path(args.dump_observations) if getattr(args, "dump_observations", None) else None
    res = run_scene(
        name, sources, calibs, cfg, out, out.parent / f"{name}_deepstream", opts, args.video, dump=dump,
        duration=args.duration,
    )  # fmt: skip
    s, p = res["summary"], res["probe"]
    if not args.quiet:
        print(
            f"{name}: {s.steps} steps, {s.rows} rows, {s.identities} identities; probe: {p.batches} batches, "
            f"{p.frames} frames, {p.objects} objects, {p.dropped_batches} dropped, {p.errors} unreadable; "
            f"association {s.timer.ms('associate', 50):.2f} ms per step (median)"
        )
        rows = [[c, "failed", why] for c, why in failures.reasons.items()]
        rows += [[c, "error" if c in res["errors"] else "ok", res["errors"].get(c, "")] for c in calibs]
        print(format_table(["camera", "status", "note"], sorted([r[0], r[1], tail_note(r[2])] for r in rows)))
    print(f"wrote {out}" + (f" (stopped early: {res['stopped']})" if res["stopped"] else ""))
    return 0


def passthrough_args(args) -> list[str]:
    """The options of this ``mcpt run`` that every per-scene process of a split needs too."""
    extra = []
    if args.fps:
        extra += ["--fps", str(args.fps)]
    if args.config:
        extra += ["--config", str(args.config)]
    for o in args.overrides:
        extra += ["--set", o]
    if getattr(args, "duration", None):
        extra += ["--duration", str(args.duration)]
    for flag in ("no_refine", "no_appearance", "no_world", "tracker_reid", "strict"):
        if getattr(args, flag, False):
            extra.append("--" + flag.replace("_", "-"))
    if args.encoder != "auto":
        extra += ["--encoder", args.encoder]
    if getattr(args, "pose", None) is not None:  # --pose [FILE]
        extra += ["--pose", *([args.pose] if args.pose else [])]
    return extra
