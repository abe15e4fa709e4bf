"""A ReID model's appearance scale, measured on a site's own video without labels.

The association's appearance thresholds (cosine distance / 2) are the reference method's, set for its
fine-tuned model: its main gate, 0.30, sits where two different people typically are. A model trained
with a metric loss spreads people much farther apart (two people seen together in one camera at 0.39
to 0.47 instead of the ImageNet model's 0.15): at the reference's thresholds its own tracklets fail
the gates and identities fragment. The scale stretches every threshold so that the gate sits at this
model's typical distance between two different people:

    appearance_scale = max(1, median distance of cannot-linked tracklets / 0.30)

Never below 1: a model that separates people poorly (the ImageNet default, 0.15) has thresholds that
gate nothing either way, and shrinking them only made its matches stricter where its distances carry
little information (held-out photoreal scene: scale 0.6 and 0.8 lost 0.04 and 0.03 HOTA).
Measured there (bench/results/training.md): the rule picks 1.31 for a trained model and 1.58 for an
adapted one; a sweep of the factor put their best HOTA at 1.3 and 1.6.

Same person: the first half of a confident tracklet against its second half; different people: two
tracklets seen on one frame of one camera (``mining``). No ground truth is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcpt.adapt.mining import MiningOptions, Tracklet, TrackletCollector, cannot_links, confident
from mcpt.adapt.separation import auc
from mcpt.config import ClusteringConfig
from mcpt.errors import InputError
from mcpt.scene.layout import SceneDir

REFERENCE_GATE = ClusteringConfig().emb_thresh  # the reference's cross-camera appearance gate
PER_TRACKLET = 50  # embeddings per tracklet, spread over it: long tracklets would dominate
MAX_SCALE = 5.0


@dataclass
class AppearanceDistances:
    same: np.ndarray  # cosine distance / 2 between the halves of one tracklet
    different: np.ndarray  # between two tracklets seen together in one camera
    tracklets: int

    @property
    def auc(self) -> float:
        """The chance that a different-people pair lies farther apart than a same-person pair."""
        return auc(self.different, self.same)

    @property
    def scale(self) -> float:
        return appearance_scale(self.different)

    def quantile_rows(self, qs=(0.05, 0.25, 0.5, 0.75, 0.95)) -> list[list]:
        rows = []
        named = (("same person (tracklet halves)", self.same), ("different people (seen together)", self.different))
        for name, v in named:
            rows.append([name, len(v), *(np.quantile(v, qs) if len(v) else [float("nan")] * len(qs))])
        return rows


def appearance_scale(different: np.ndarray) -> float:
    """The scale for these different-people distances (cosine distance / 2)."""
    if not len(different):
        raise InputError(None, "no two tracklets were seen together in one camera: nothing to calibrate on")
    return scale_for_median(float(np.median(different)))


def scale_for_median(median_different: float) -> float:
    return float(np.clip(round(median_different / REFERENCE_GATE, 2), 1.0, MAX_SCALE))


def _spread(e: np.ndarray) -> np.ndarray:
    if len(e) <= PER_TRACKLET:
        return e
    return e[np.linspace(0, len(e) - 1, PER_TRACKLET).round().astype(int)]


def _unit(e: np.ndarray) -> np.ndarray:
    e = e.astype(np.float32)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def tracklet_distances(tracklets: list[Tracklet]) -> AppearanceDistances:
    """Same-person and different-people distances of tracklets that carry embeddings."""
    halves = []
    for t in tracklets:
        h = len(t) // 2
        halves.append((_unit(_spread(t.embedding[:h])), _unit(_spread(t.embedding[h:]))))
    same = [(1 - a @ b.T).ravel() / 2 for a, b in halves if len(a) and len(b)]
    different = []
    for i, j in sorted(cannot_links(tracklets)):
        a, b = np.concatenate(halves[i]), np.concatenate(halves[j])
        different.append((1 - a @ b.T).ravel() / 2)
    return AppearanceDistances(
        np.concatenate(same) if same else np.zeros(0),
        np.concatenate(different) if different else np.zeros(0),
        len(tracklets),
    )


def scene_tracklets(scene: SceneDir, perception: str | None, opts: MiningOptions | None = None) -> list[Tracklet]:
    """Confident tracklets of one scene's recorded perception, with their embeddings. The single-camera
    tracker runs at the reference's appearance scale, whatever the manifest says of this model, so that a
    calibration does not depend on the previous one."""
    import dataclasses

    from mcpt.backends.replay import ReplaySource
    from mcpt.config import load_config

    cfg = load_config(overrides=["association.appearance_scale=1"])
    backend = ReplaySource(scene, cfg, perception=perception, strict=True)
    collector = TrackletCollector(embeddings=True)
    for batch in backend:
        collector.add(batch)
    sizes = {cam.camera_id: tuple(p.image_size or (1920, 1080)) for cam, p, _ in backend.cameras}
    opts = opts or MiningOptions()
    if opts.min_score is None:
        opts = dataclasses.replace(opts, min_score=backend.cfg.association.sct.track_high_thresh)
    return confident(collector.tracklets(), sizes, opts)


def recorded_reid(scene: SceneDir, perception: str | None) -> str | None:
    """The ReID model that embedded a recorded perception (None: not recorded by mcpt perceive)."""
    from mcpt.backends.replay import load_perception

    cam = scene.cameras[0]
    return load_perception(cam.perception_file(perception), cam.camera_id).reid


def write_appearance_scale(manifest_path, model: str, scale: float, note: str) -> None:
    """Set ``models.<model>.appearance_scale`` in the manifest, keeping its comments and layout."""
    from mcpt.models.calibrate import replace_entry_keys

    replace_entry_keys(
        manifest_path,
        model,
        [f"    # appearance scale: {note}\n", f"    appearance_scale: {scale:.2f}\n"],
        ("    appearance_scale:", "    # appearance scale"),
    )
