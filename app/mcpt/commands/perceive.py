"""``mcpt perceive``: run the detector and ReID over a scene's videos once and cache what they saw, for replay."""

from __future__ import annotations

import argparse

from mcpt.commands.common import add_pose_arg

HELP = "cache the detector's and ReID model's output on a scene's videos (replay it with mcpt track --perception)"
EXAMPLE = "mcpt perceive scenes/scene_001 --name yolo"
DESCRIPTION = (
    "Writes camera_XXXX/perception_NAME.npz for every camera of SCENE: every detection above --conf with its "
    "ReID embedding and, where the scene has ground truth, the identity it matches. `mcpt track SCENE "
    "--perception NAME` then replays it with any configuration in seconds. --boxes gt embeds the ground-truth "
    "boxes instead (association with perfect detection).\n\n"
    "example: mcpt perceive photoreal/scene_001 --name real && mcpt track photoreal/scene_001 --perception real "
    "--out r.txt --eval"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("scene", help="a scene folder (camera_XXXX/video.mp4 + calibration.json) or a split of scenes")
    p.add_argument("--name", default="real", help="cache name: perception_NAME.npz (default real)")
    p.add_argument("--boxes", choices=("detector", "gt"), default="detector", help="where the boxes come from")
    p.add_argument(
        "--reembed",
        metavar="FROM",
        help="embed the boxes of perception_FROM.npz again with --reid (no detector run): compares ReID models",
    )
    p.add_argument("--conf", type=float, default=0.05, help="lowest detection score kept (default 0.05)")
    p.add_argument("--detector", help="detector ONNX (default: models.yaml's detector)")
    p.add_argument("--reid", help="ReID ONNX (default: models.yaml's reid)")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    add_pose_arg(p)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mcpt.backends.record import record_scene
    from mcpt.commands.common import pose_setting
    from mcpt.config import load_config
    from mcpt.errors import InputError
    from mcpt.models.manifest import detector_operating_points, load_manifest
    from mcpt.models.runtime import load_models, load_pose
    from mcpt.scene.layout import discover_scenes

    if args.name and not args.name.replace("_", "").replace("-", "").isalnum():
        raise InputError(None, f"expected letters, digits, - or _, got {args.name!r}", field="--name")
    if args.reembed:
        return _reembed(args)
    cfg = load_config(overrides=[f"detector.conf_thresh={args.conf}"])
    cfg, pose_file = pose_setting(args, cfg)
    det, reid = load_models(cfg, args.detector, args.reid, args.threads)
    pose = load_pose(cfg, pose_file, args.threads)
    manifest = load_manifest()
    # keypoints for the boxes a live run gives a pose: scored at least the tracker's high threshold
    pose_min = cfg.pose.min_score
    if pose_min is None:
        pose_min = detector_operating_points(manifest, args.detector)[0].track_high
    det_name = manifest.detector.name if not args.detector else Path(args.detector).stem
    reid_name = manifest.reid.name if not args.reid else Path(args.reid).stem
    for scene in discover_scenes(args.scene):
        records = record_scene(
            scene, args.name, det, reid, det_name, reid_name, args.boxes, not args.quiet, pose, pose_min
        )
        for r in records:
            print(f"{scene.name} camera {r.camera_id}: {r.frames} frames, {r.detections} boxes -> {r.path}")
    return 0


def _reembed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from mcpt.backends.record import reembed_camera
    from mcpt.errors import InputError
    from mcpt.models.manifest import load_manifest
    from mcpt.models.reid import ReIDModel
    from mcpt.scene.layout import discover_scenes

    if args.reembed == args.name:
        raise InputError(None, "--reembed and --name name the same record; give the copy its own name", field="--name")
    manifest = load_manifest()
    spec = manifest.reid
    reid = ReIDModel(args.reid or spec.onnx, spec.width, spec.height, threads=args.threads)
    reid_name = spec.name if not args.reid else Path(args.reid).stem
    for scene in discover_scenes(args.scene):
        for cam in scene.cameras:
            if cam.video is None:
                raise InputError(cam.path, "no video to read the boxes from (video.mp4)")
            with tqdm(desc=f"{scene.name}/{cam.name}", unit="frame", disable=args.quiet, leave=False) as bar:
                r = reembed_camera(
                    cam.video, cam.perception_file(args.reembed), cam.perception_file(args.name), reid, reid_name, bar
                )
            print(f"{scene.name} camera {cam.camera_id}: {r.detections} boxes embedded by {reid_name} -> {r.path}")
    return 0
