"""Every scene of a split through the CPU pipeline, ``jobs`` scenes at a time in separate processes."""

from __future__ import annotations

import os
from pathlib import Path

from mcpt.config import Config
from mcpt.scene.layout import SceneDir


def default_threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def _scene_worker(args) -> str:
    scene_path, out_dir, cfg_dict, video_dir, progress, detector, reid, threads, max_steps, fps, strict, pose = args
    from mcpt.config import from_dict
    from mcpt.pipeline import run_cpu
    from mcpt.scene.cameras import cameras_from_scene
    from mcpt.scene.layout import discover_scene
    from mcpt.summary import pipeline_report

    cfg = from_dict(Config, cfg_dict, "config")
    scene = discover_scene(scene_path)
    res = run_cpu(
        scene.name,
        cameras_from_scene(scene),
        cfg,
        Path(out_dir) / f"{scene.name}.txt",
        video=Path(video_dir) / f"{scene.name}.mp4" if video_dir else None,
        fps=fps,
        max_steps=max_steps,
        progress=progress,
        detector=detector,
        reid=reid,
        threads=threads,
        strict=strict,
        pose=pose,
    )
    return pipeline_report(res)


def run_split(
    scenes: list[SceneDir],
    cfg: Config,
    out_dir: str | Path,
    jobs: int = 1,
    video_dir=None,
    progress: bool = True,
    detector=None,
    reid=None,
    max_steps: int | None = None,
    fps: float | None = None,
    strict: bool = False,
    pose=None,
) -> list[str]:
    """Returns each scene's report; results go to ``out_dir/scene_XXX.txt``."""
    import multiprocessing as mp

    from mcpt.config import to_dict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = default_threads(jobs)
    work = [
        (
            str(s.path),
            str(out_dir),
            to_dict(cfg),
            video_dir,
            progress and jobs == 1,
            detector,
            reid,
            threads,
            max_steps,
            fps,
            strict,
            pose,
        )
        for s in scenes
    ]
    if jobs <= 1:
        return [_scene_worker(w) for w in work]
    with mp.get_context("spawn").Pool(jobs) as pool:
        return list(pool.imap(_scene_worker, work))
