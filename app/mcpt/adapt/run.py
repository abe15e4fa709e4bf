"""``mcpt adapt reid``: adapt the ReID model to a site's own unlabelled video.

1. perception: the detector and the current ReID model over each camera (the first ``minutes``),
   recorded as ``perception_adapt.npz`` beside each video (reused when it is already there);
2. the single-camera tracker and floor positions exactly as ``mcpt track`` runs them;
3. pseudo-identities (``mining``): confident tracklets, cannot-links, cross-camera must-links;
4. crops: a seeded share of the pseudo-identities is held out; the others' crops (at most
   ``per_identity`` each, spread over time) form a Market-layout training set, the held-out ones'
   tracklets are cut into halves for scoring;
5. training with ``mcpt train reid``'s losses from the current weights; separation before and after
   (``separation``) with both ONNX models on ONNX Runtime, as the pipeline runs them.

Where the scene has a ground truth it is never used, except to report afterwards how pure the mined
identities were.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mcpt.adapt.mining import Mined, MiningOptions, TrackletCollector, mine
from mcpt.adapt.separation import Separation, separation
from mcpt.datasets.market import COMPLETE_NAME, GALLERY, QUERY, TRAIN, crop_name
from mcpt.datasets.plan import scene_number
from mcpt.datasets.prepare import cut_crop, stream_frames, write_atomic, write_jpeg
from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir

RECORD = "adapt"


@dataclass
class AdaptOptions:
    minutes: float | None = None
    perception: str | None = None  # an existing record (mcpt perceive --name) instead of recording anew
    epochs: int = 20
    per_tracklet: int = 40
    per_identity: int = 100
    holdout_share: float = 0.25
    seed: int = 0
    device: str = "auto"
    max_steps: int | None = None
    mining: MiningOptions = field(default_factory=MiningOptions)


@dataclass
class SceneMining:
    scene: SceneDir
    mined: Mined
    purity: float | None = None  # share of crops whose ground-truth person is their pseudo-identity's majority
    must_correct: float | None = None  # share of must-links joining one ground-truth person


@dataclass
class Heldout:
    """The held-out tracklets (one pid each): pid -> its pseudo-identity group, and the cannot-links."""

    group: dict[int, int] = field(default_factory=dict)
    cannot: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class AdaptResult:
    scenes: list[SceneMining]
    train_identities: int
    train_crops: int
    heldout_tracklets: int
    before: Separation
    after: Separation
    train: object  # mcpt_export.reid_train.TrainResult
    seconds: float


def perceive(scene: SceneDir, reid_onnx: Path, minutes: float | None, progress: bool) -> None:
    """perception_adapt.npz for every camera (kept when it was made by the same models over the same frames)."""
    from mcpt.backends.record import record_scene
    from mcpt.config import load_config
    from mcpt.models.manifest import load_manifest
    from mcpt.models.runtime import load_models

    det, reid = load_models(load_config(overrides=["detector.conf_thresh=0.05"]), None, reid_onnx)
    record_scene(
        scene, RECORD, det, reid, load_manifest().detector.name, reid_onnx.stem, progress=progress,
        max_seconds=minutes * 60 if minutes else None, reuse=True,
    )  # fmt: skip


def mine_scene(scene: SceneDir, opts: AdaptOptions) -> tuple[Mined, dict[int, Path]]:
    from mcpt.backends.replay import ReplaySource
    from mcpt.config import load_config

    backend = ReplaySource(scene, load_config(), perception=opts.perception or RECORD, strict=True)
    collector = TrackletCollector()
    for batch in backend:
        collector.add(batch)
    sizes = {cam.camera_id: p.image_size or (1920, 1080) for cam, p, _ in backend.cameras}
    mopts = opts.mining
    if mopts.min_score is None:
        mopts = dataclasses.replace(mopts, min_score=backend.cfg.association.sct.track_high_thresh)
    videos = {cam.camera_id: cam.video for cam, _, _ in backend.cameras}
    return mine(collector.tracklets(), {k: tuple(v) for k, v in sizes.items()}, mopts), videos


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int)) if n else np.zeros(0, int)


def write_crops(scenes: list[tuple[SceneDir, Mined, dict[int, Path]]], root: Path, opts: AdaptOptions, progress: bool):
    """The Market-layout folder: training crops of the kept pseudo-identities, held-out tracklets' halves
    (query: first half, gallery: second). Returns the number of training identities and crops and the
    held-out tracklets' Heldout (their pids, pseudo-identity groups and cannot-links)."""
    from tqdm import tqdm

    rng = np.random.default_rng(opts.seed)
    jobs: dict[tuple[str, int], dict[int, list]] = defaultdict(lambda: defaultdict(list))  # (scene, cam) -> frame
    next_pid = next_group = 1
    train_ids = train_crops = 0
    heldout_pids: dict[tuple[str, int], int] = {}
    held = Heldout()
    for scene, mined, _ in scenes:
        idents = np.unique(mined.identity)
        chosen = set(rng.permutation(idents)[: round(opts.holdout_share * len(idents))].tolist())
        for ident in idents.tolist():
            members = np.flatnonzero(mined.identity == ident).tolist()
            if ident in chosen:
                group = next_group
                next_group += 1
                for t in members:
                    pid = next_pid
                    next_pid += 1
                    heldout_pids[(scene.name, t)] = pid
                    held.group[pid] = group
                    tr = mined.tracklets[t]
                    take = _spread(len(tr), opts.per_tracklet)
                    mid = len(tr) // 2
                    for k in take.tolist():
                        folder = QUERY if k < mid else GALLERY
                        jobs[(scene.name, tr.camera)][int(tr.frame[k])].append((folder, pid, tr.box[k]))
                continue
            pid = next_pid
            next_pid += 1
            rows = [(t, k) for t in members for k in range(len(mined.tracklets[t]))]
            take = _spread(len(rows), opts.per_identity)
            for r in take.tolist():
                t, k = rows[r]
                tr = mined.tracklets[t]
                jobs[(scene.name, tr.camera)][int(tr.frame[k])].append((TRAIN, pid, tr.box[k]))
            train_ids += 1
            train_crops += len(take)
        for i, j in mined.cannot:
            if (scene.name, i) in heldout_pids and (scene.name, j) in heldout_pids:
                held.cannot.append((heldout_pids[(scene.name, i)], heldout_pids[(scene.name, j)]))
    by_scene = {s.name: (s, v) for s, _, v in scenes}
    total = sum(max(f) + 1 for f in jobs.values() if f)
    with tqdm(total=total, desc="crops", unit="frame", disable=not progress, leave=False) as bar:
        for (scene_name, cam), frames in sorted(jobs.items()):
            scene, videos = by_scene[scene_name]
            for f, img in stream_frames(videos[cam], sorted(frames), max(frames), bar):
                for n, (folder, pid, box) in enumerate(frames[f]):
                    crop = cut_crop(img, box, min_w=4, min_h=8)
                    if crop is not None:
                        write_jpeg(root / folder / crop_name(pid, cam, scene_number(scene), f, n), crop)
    for folder in (TRAIN, QUERY, GALLERY):
        (root / folder).mkdir(parents=True, exist_ok=True)
    write_atomic(root / COMPLETE_NAME, b'{"layout": "Market-1501", "made_by": "mcpt adapt reid"}\n')
    return train_ids, train_crops, held


def heldout_separation(onnx: Path, root: Path, held: Heldout) -> Separation:
    from mcpt.datasets.market import list_crops
    from mcpt.models.reid import ReIDModel

    model = ReIDModel(onnx)
    crops = [(c, 0) for c in list_crops(root / QUERY)] + [(c, 1) for c in list_crops(root / GALLERY)]
    if not crops:
        raise InputError(root, "no held-out tracklet crops to score separation on (too few pseudo-identities)")
    embs = []
    for i in range(0, len(crops), 64):
        batch = []
        for c, _ in crops[i : i + 64]:
            img = cv2.imread(str(c.path))
            batch.append(model.crops(img, np.array([[0, 0, img.shape[1], img.shape[0]]]))[0])
        embs.append(model.embed(np.stack(batch)))
    pids = np.array([c.person for c, _ in crops])
    group = np.array([held.group.get(p, -p) for p in pids.tolist()])
    return separation(np.concatenate(embs), pids, np.array([h for _, h in crops]), held.cannot, group)


def label_check(scene: SceneDir, mined: Mined) -> tuple[float | None, float | None]:
    """With a ground truth (never used for training): crop purity of the pseudo-identities and the share
    of must-links that join one person."""
    if scene.ground_truth is None:
        return None, None
    from mcpt.backends.record import match_ids
    from mcpt.scene.results import read_rows

    gt = read_rows(scene.ground_truth)
    truth = []
    for t in mined.tracklets:
        ids = np.full(len(t), -1)
        for k in range(len(t)):
            g = gt.select((gt.camera == t.camera) & (gt.frame == t.frame[k]))
            ids[k] = match_ids(g.box, g.obj, t.box[k : k + 1])[0]
        truth.append(ids)
    agree = total = 0
    for ident in np.unique(mined.identity).tolist():
        ids = np.concatenate([truth[t] for t in np.flatnonzero(mined.identity == ident)])
        top = Counter(ids.tolist()).most_common(1)[0]
        agree += top[1] if top[0] >= 0 else 0
        total += len(ids)

    def major(i: int) -> int:
        return Counter(truth[i].tolist()).most_common(1)[0][0]

    links = [major(i) == major(j) and major(i) >= 0 for i, j, _ in mined.must]
    return agree / max(total, 1), (float(np.mean(links)) if links else None)


def adapt_reid(
    scenes: list[SceneDir], work: Path, out: Path, reid_spec, opts: AdaptOptions, progress: bool = True
) -> AdaptResult:
    from mcpt_export.models import source_file
    from mcpt_export.reid_train import TrainOptions, train_reid

    t0 = time.perf_counter()
    if not reid_spec.onnx.is_file():
        raise InputError(reid_spec.onnx, f"the ReID model {reid_spec.name} is not exported; run `make models`")
    weights = source_file(reid_spec)
    if weights is None:
        raise InputError(reid_spec.source_path, f"no weights for {reid_spec.name} to start from", field="source")
    mined_scenes = []
    results = []
    for scene in scenes:
        if opts.perception is None:
            perceive(scene, reid_spec.onnx, opts.minutes, progress)
        mined, videos = mine_scene(scene, opts)
        if not mined.tracklets:
            raise InputError(scene.path, "no confident tracklet to learn from (too short a video, or nobody seen)")
        purity, must_ok = label_check(scene, mined)
        results.append(SceneMining(scene, mined, purity, must_ok))
        mined_scenes.append((scene, mined, videos))
    root = work / "dataset"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    ids, crops, held = write_crops(mined_scenes, root, opts, progress)
    if ids < 2:
        raise InputError(scenes[0].path, f"{ids} pseudo-identities to train on; a ReID model needs several")
    before = heldout_separation(reid_spec.onnx, root, held)
    topts = TrainOptions(
        arch=reid_spec.architecture,
        epochs=opts.epochs,
        weights=weights,
        height=reid_spec.height,
        width=reid_spec.width,
        device=opts.device,
        seed=opts.seed,
        max_steps=opts.max_steps,
        cross_camera_only=False,
    )
    train = train_reid(root, out, topts, progress=progress)
    after = heldout_separation(train.onnx, root, held)
    return AdaptResult(results, ids, crops, len(held.group), before, after, train, time.perf_counter() - t0)
