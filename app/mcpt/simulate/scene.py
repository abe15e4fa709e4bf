"""Write a simulated scene in the AIC24 layout, or stream its frames without touching disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mcpt.scene.calibration import calibration_from_matrices, write_calibration
from mcpt.scene.layout import GROUND_TRUTH_NAME, PERCEPTION_NAME
from mcpt.scene.results import ResultsWriter, Rows
from mcpt.simulate.cameras import PinholeCamera, miscalibrated, place_cameras, place_site_cameras
from mcpt.simulate.params import SimParams
from mcpt.simulate.perception import CameraFrame, PerceptionModel
from mcpt.simulate.world import Population, simulate_population

SCENE_META_NAME = "scene.json"


@dataclass
class SimulatedScene:
    params: SimParams
    population: Population
    cameras: list[PinholeCamera]
    perception: PerceptionModel
    render_rng: np.random.Generator
    calibrated: list[PinholeCamera]  # the cameras as their calibration files say (a site's are a little off)

    @classmethod
    def build(cls, params: SimParams, first_camera: int = 1) -> SimulatedScene:
        # spawned children are fixed by their index: adding one kept the earlier streams as they were
        world_rng, cam_rng, perception_rng, render_rng, calib_rng, pose_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(params.seed).spawn(6)
        )
        site = params.site
        population = simulate_population(params.people, params.frames, params.fps, world_rng, site)
        if site is None:
            cameras = place_cameras(
                params.cameras,
                population.floor,
                cam_rng,
                params.image_size,
                params.height_range_m,
                params.hfov_range_deg,
                first_id=first_camera,
            )
            calibrated = cameras
        else:
            cameras = place_site_cameras(
                params.cameras,
                population.floor,
                cam_rng,
                params.image_size,
                params.height_range_m,
                site.hfov_deg,
                first_id=first_camera,
            )
            calibrated = [
                miscalibrated(c, calib_rng, site.calib_rotation_deg, site.calib_focal, site.calib_position_m)
                for c in cameras
            ]
        perception = PerceptionModel(params.perception, population, cameras, perception_rng, params.fps, site, pose_rng)
        return cls(params, population, cameras, perception, render_rng, calibrated)

    def frames(self) -> Iterator[list[CameraFrame]]:
        """Per frame, one CameraFrame per camera (ground truth and detections)."""
        for _, _, _, frames in self.steps():
            yield frames

    def steps(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, list[CameraFrame]]]:
        """Per frame: its number, the identities present and their floor positions, and the CameraFrames."""
        for t, ids, xy in self.population.iter_frames():
            yield t, ids, xy, self.perception.step(t, ids, xy)


def gt_rows(frames: list[CameraFrame]) -> Rows:
    parts = [
        Rows(
            np.full(len(f.gt_ids), f.camera_id, np.int64),
            f.gt_ids.astype(np.int64) + 1,
            np.full(len(f.gt_ids), f.frame, np.int64),
            f.gt_box,
            f.gt_world,
        )
        for f in frames
    ]
    return Rows.concat(parts)


APPEARANCES = ("cartoon", "real")


def photoreal_gt_rows(t: int, cameras, ids: np.ndarray, xy: np.ndarray, boxes: list[dict[int, np.ndarray]]) -> Rows:
    """Ground truth of one rendered frame: each visible person's box and true floor position."""
    pos = {int(i): p for i, p in zip(ids.tolist(), xy, strict=True)}
    parts = []
    for cam, seen in zip(cameras, boxes, strict=True):
        who = sorted(seen)
        parts.append(
            Rows(
                np.full(len(who), cam.camera_id, np.int64),
                np.array(who, np.int64) + 1,
                np.full(len(who), t, np.int64),
                np.array([seen[i] for i in who]).reshape(-1, 4),
                np.array([pos[i] for i in who]).reshape(-1, 2),
            )
        )
    return Rows.concat(parts)


class _VideoFile:
    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        import cv2

        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {path} (mp4v); is FFmpeg support missing?")

    def write(self, img: np.ndarray) -> None:
        self.writer.write(img)

    def close(self) -> None:
        self.writer.release()


def write_scene(
    out: str | Path,
    params: SimParams,
    scene_id: int = 1,
    first_camera: int = 1,
    render: bool = False,
    difficulty: str = "",
    progress: bool = True,
    appearance: str = "cartoon",
    bank=None,
    walkers: str = "all",
) -> Path:
    """Simulate one scene to ``out/scene_XXX``; returns the scene folder.

    ``render`` writes a video per camera: with ``appearance="cartoon"`` simple figures (for decoding
    and timing: a real detector does not see them), with ``"real"`` real people from the sprite bank
    (``bank``, default: the cached bank of vtest.avi), and then the ground truth is the rendered
    people's visible boxes.
    """
    from tqdm import tqdm

    if appearance not in APPEARANCES:
        raise ValueError(f"unknown appearance {appearance!r}; expected one of {', '.join(APPEARANCES)}")
    photoreal = render and appearance == "real"
    if photoreal and bank is None:
        from mcpt.simulate.sprites import sprite_bank

        bank = sprite_bank(progress=progress)
    if photoreal:
        bank = bank.part(walkers)
    sim = SimulatedScene.build(params, first_camera)
    scene_dir = Path(out) / f"scene_{scene_id:03d}"
    scene_dir.mkdir(parents=True, exist_ok=True)
    videos = []
    colours = None
    photo = None
    if photoreal:
        from mcpt.simulate.photoreal import PhotorealScene

        pop = sim.population
        photo = PhotorealScene(sim.cameras, pop.floor, pop.num_identities, pop.height, bank, sim.render_rng)
    elif render:
        from mcpt.simulate.render import CameraVideo, identity_colours

        colours = identity_colours(sim.population.num_identities, sim.perception.lookalike_of, sim.render_rng)
    cam_dirs = []
    for cam, calib in zip(sim.cameras, sim.calibrated, strict=True):
        cdir = scene_dir / f"camera_{cam.camera_id:04d}"
        cdir.mkdir(exist_ok=True)
        cam_dirs.append(cdir)
        write_calibration(
            cdir / "calibration.json",
            calibration_from_matrices(cam.camera_id, calib.homography, calib.projection, image_size=cam.image_size),
        )
        if photoreal:
            videos.append(_VideoFile(cdir / "video.mp4", cam.image_size, params.fps))
        elif render:
            videos.append(CameraVideo(cdir / "video.mp4", cam, sim.population.floor, colours, params.fps))
    acc: list[dict[str, list]] = [
        {"frame_id": [], "bbox": [], "score": [], "embedding": [], "gt_id": [], "keypoints": []} for _ in sim.cameras
    ]
    bar = tqdm(total=params.frames, desc=f"simulate {scene_dir.name}", unit="frame", disable=not progress, leave=False)
    with ResultsWriter(scene_dir / GROUND_TRUTH_NAME) as gt_writer:
        for t, ids, xy, frames in sim.steps():
            if photo is not None:
                rendered = photo.render(t, ids, xy)
                for writer, (img, _) in zip(videos, rendered, strict=True):
                    writer.write(img)
                gt_writer.write(photoreal_gt_rows(t, sim.cameras, ids, xy, [b for _, b in rendered]))
            else:
                gt_writer.write(gt_rows(frames))
            for a, f in zip(acc, frames, strict=True):
                a["frame_id"].append(np.full(len(f.det_box), f.frame, np.int32))
                a["bbox"].append(f.det_box.astype(np.float32))
                a["score"].append(f.det_score.astype(np.float32))
                a["embedding"].append(f.det_embedding)
                a["keypoints"].append(f.det_keypoints.astype(np.float32))
                a["gt_id"].append(np.where(f.det_gt >= 0, f.det_gt + 1, f.det_gt).astype(np.int32))
            if photo is None:
                for v, f in zip(videos, frames, strict=False):
                    v.write(f)
            bar.update(1)
    bar.close()
    for v in videos:
        v.close()
    dim = params.perception.embedding_dim
    for cdir, a in zip(cam_dirs, acc, strict=True):
        np.savez_compressed(
            cdir / PERCEPTION_NAME,
            frame_id=np.concatenate(a["frame_id"]) if a["frame_id"] else np.zeros(0, np.int32),
            bbox=np.concatenate(a["bbox"]) if a["bbox"] else np.zeros((0, 4), np.float32),
            score=np.concatenate(a["score"]) if a["score"] else np.zeros(0, np.float32),
            embedding=np.concatenate(a["embedding"]) if a["embedding"] else np.zeros((0, dim), np.float32),
            gt_id=np.concatenate(a["gt_id"]) if a["gt_id"] else np.zeros(0, np.int32),
            keypoints=np.concatenate(a["keypoints"]) if a["keypoints"] else np.zeros((0, 17, 3), np.float32),
            num_frames=np.int32(params.frames),
            fps=np.float32(params.fps),
            image_size=np.array(params.image_size, np.int32),
        )
    floor = sim.population.floor
    meta = {
        "scene": scene_dir.name,
        "difficulty": difficulty,
        "frames": params.frames,
        "fps": params.fps,
        "seed": params.seed,
        "floor": {
            "width": floor.width,
            "depth": floor.depth,
            "doors": floor.doors.tolist(),
            "rooms": floor.room_boxes.tolist(),
        },
        "identities": sim.population.num_identities,
        "cameras": [c.camera_id for c in sim.cameras],
        "params": asdict(params),
        "appearance": appearance if render else None,
        "walkers": walkers if photoreal else None,
        "note": "gt ids in ground_truth.txt and perception.npz gt_id are identity + 1; gt_id -1 = false "
        "positive, -2 = unannotated crowd",
    }
    (scene_dir / SCENE_META_NAME).write_text(json.dumps(meta, indent=2))
    return scene_dir


def decimate_scene(scene_dir: str | Path, out: str | Path, every: int) -> Path:
    """The same scene at 1/``every`` of its frame rate: frames 0, every, 2 x every ... renumbered 0, 1, 2 ...

    Writes ``out/<scene name>`` with the same calibrations, and perception and ground truth of the
    kept frames (videos are not copied). What a camera running at the lower rate would have seen of
    the same people, so that results at two rates can be compared on one scene.
    """
    from mcpt.scene.results import read_rows, write_rows

    src = Path(scene_dir)
    dst = Path(out) / src.name
    dst.mkdir(parents=True, exist_ok=True)
    gt = read_rows(src / GROUND_TRUTH_NAME)
    kept = gt.frame % every == 0
    write_rows(
        dst / GROUND_TRUTH_NAME,
        Rows(gt.camera[kept], gt.obj[kept], gt.frame[kept] // every, gt.box[kept], gt.world[kept]),
    )
    for cdir in sorted(src.glob("camera_*")):
        (dst / cdir.name).mkdir(exist_ok=True)
        (dst / cdir.name / "calibration.json").write_bytes((cdir / "calibration.json").read_bytes())
        with np.load(cdir / PERCEPTION_NAME) as z:
            data = {k: z[k] for k in z.files}
        keep = data["frame_id"] % every == 0
        for k in ("frame_id", "bbox", "score", "embedding", "gt_id", "keypoints"):
            if k in data:
                data[k] = data[k][keep]
        data["frame_id"] = (data["frame_id"] // every).astype(np.int32)
        data["num_frames"] = np.int32(-(-int(data["num_frames"]) // every))
        data["fps"] = np.float32(float(data["fps"]) / every)
        np.savez_compressed(dst / cdir.name / PERCEPTION_NAME, **data)
    meta = json.loads((src / SCENE_META_NAME).read_text())
    meta.update(fps=meta["fps"] / every, frames=-(-meta["frames"] // every), decimated_from=str(src), every=every)
    (dst / SCENE_META_NAME).write_text(json.dumps(meta, indent=2))
    return dst
