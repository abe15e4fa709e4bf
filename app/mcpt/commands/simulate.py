"""``mcpt simulate``: write a simulated scene in the AIC24 layout with cached perception."""

from __future__ import annotations

import argparse

from mcpt.commands.common import image_size, positive_float, positive_int
from mcpt.timebase import DEFAULT_FPS

HELP = "simulate a calibrated multi-camera scene (ground truth, cached perception, optional videos)"
EXAMPLE = "mcpt simulate sim --difficulty site --cameras 10 --frames 1800"
DESCRIPTION = (
    "Write OUT/scene_XXX/ in the AIC24 layout: calibration.json and perception.npz per camera, "
    "ground_truth.txt, scene.json, and with --render a video.mp4 per camera. Deterministic for a seed."
)


def degree_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX degrees such as 50-70, got {text!r}") from None
    if not 10 <= lo <= hi <= 150:
        raise argparse.ArgumentTypeError(f"expected 10 <= MIN <= MAX <= 150, got {text!r}")
    return lo, hi


def configure(p: argparse.ArgumentParser) -> None:
    from mcpt.simulate.params import DIFFICULTIES

    p.add_argument("out", help="output folder (a split folder: scenes go in OUT/scene_XXX)")
    p.add_argument("--cameras", type=positive_int, default=4, help="cameras per scene (default 4)")
    p.add_argument("--people", type=positive_int, default=10, help="people present at once, on average (default 10)")
    p.add_argument("--frames", type=positive_int, default=300, help="frames per camera (default 300)")
    p.add_argument(
        "--fps", type=positive_float, default=None, help=f"frame rate (default {DEFAULT_FPS:g}; the site preset: 30)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default="medium",
        help="preset (default medium); `site`: rooms joined by unseen corridors, partial views, calibration "
        "error, mannequins, desks, uniforms, 30 fps",
    )
    p.add_argument("--scenes", type=positive_int, default=1, help="number of scenes, seeds seed, seed+1, ...")
    p.add_argument("--scene-id", type=positive_int, default=1, help="number of the first scene (default 1)")
    p.add_argument("--first-camera", type=positive_int, default=1, help="number of the first camera (global ids)")
    p.add_argument("--image-size", type=image_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    p.add_argument(
        "--hfov",
        type=degree_range,
        default=(55.0, 90.0),
        metavar="MIN-MAX",
        help="cameras' horizontal field of view, degrees (default 55-90; narrower = people appear taller)",
    )
    p.add_argument("--embedding-dim", type=positive_int, default=128, help="ReID embedding size (default 128)")
    p.add_argument("--render", action="store_true", help="also write video.mp4 per camera")
    p.add_argument(
        "--appearance",
        choices=("cartoon", "real"),
        default="cartoon",
        help="with --render: cartoon figures (decoding and timing only) or real people cut from vtest.avi, "
        "whom the detector sees; the ground truth is then the rendered people's visible boxes",
    )
    p.add_argument(
        "--walkers",
        choices=("all", "first", "second"),
        default="all",
        help="with --appearance real: people from all of the sprite bank or one half of it (scenes made from "
        "different halves share nobody: train ReID on one, test on the other)",
    )


def main(args: argparse.Namespace) -> int:
    from mcpt.simulate.params import make_params
    from mcpt.simulate.scene import write_scene

    first_camera = args.first_camera
    for k in range(args.scenes):
        params = make_params(
            args.difficulty,
            cameras=args.cameras,
            frames=args.frames,
            fps=args.fps,
            seed=args.seed + k,
            image_size=args.image_size,
            hfov_range_deg=args.hfov,
            people_population=args.people,
            perception_embedding_dim=args.embedding_dim,
        )
        scene_dir = write_scene(
            args.out,
            params,
            scene_id=args.scene_id + k,
            first_camera=first_camera,
            render=args.render,
            appearance=args.appearance,
            walkers=args.walkers,
            difficulty=args.difficulty,
            progress=not args.quiet,
        )
        first_camera += args.cameras
        print(f"wrote {scene_dir} ({args.cameras} cameras, {args.frames} frames, {args.difficulty})")
    return 0
