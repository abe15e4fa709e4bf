"""A ReID model's appearance scale: measured without labels, stored in models.yaml, applied to every
appearance threshold of the association exactly once."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from mcpt.adapt.mining import Tracklet
from mcpt.config import APPEARANCE_THRESHOLDS, AssociationConfig, load_config, with_appearance_scale
from mcpt.errors import InputError


def _thresholds(cfg: AssociationConfig) -> list[float]:
    return [getattr(getattr(cfg, section), name) for section, name in APPEARANCE_THRESHOLDS]


def test_appearance_scale_multiplies_every_appearance_threshold_once():
    base = AssociationConfig(tracker=dataclasses.replace(AssociationConfig().tracker, lost_emb_thresh=0.3))
    scaled = with_appearance_scale(base, 1.5)
    assert _thresholds(scaled) == pytest.approx([1.5 * v for v in _thresholds(base)])
    assert scaled.appearance_scale == 1.0 and scaled.clustering.emb_thresh == pytest.approx(0.45)
    assert _thresholds(with_appearance_scale(scaled, 2.0)) == _thresholds(scaled)  # applied once
    # a scale the user set wins over the model's
    user = load_config(overrides=["association.appearance_scale=1.2"]).association
    assert with_appearance_scale(user, 3.0).refine.split_emb == pytest.approx(0.325 * 1.2)
    # what is not an appearance threshold stays
    assert scaled.tracker.euc_thresh == base.tracker.euc_thresh and scaled.sct.match_thresh == base.sct.match_thresh
    with pytest.raises(InputError, match=r"association\.appearance_scale"):
        with_appearance_scale(load_config(overrides=["association.appearance_scale=0"]).association, 1.0)


def test_the_manifest_stores_a_reid_models_scale_and_finds_it_by_name_or_file(tmp_path):
    from mcpt.models.manifest import default_manifest_path, load_manifest, reid_appearance_scale
    from mcpt.models.reid_calibrate import write_appearance_scale

    path = tmp_path / "models.yaml"
    shutil.copyfile(default_manifest_path(), path)
    before = load_manifest(path)
    assert before.reid.appearance_scale == 1.0
    write_appearance_scale(path, before.default_reid, 1.4, "measured here")
    write_appearance_scale(path, before.default_reid, 1.45, "measured again")
    text = path.read_text()
    assert text.count("appearance_scale:") == 1 and "measured again" in text and "measured here" not in text
    assert text.splitlines()[0] == default_manifest_path().read_text().splitlines()[0]  # comments kept
    m = load_manifest(path)
    assert reid_appearance_scale(m)[0] == 1.45
    # a recording names the model by its ONNX file's stem when it was given as a file
    assert reid_appearance_scale(m, m.reid.onnx.stem)[0] == 1.45
    assert reid_appearance_scale(m, m.reid.onnx)[0] == 1.45
    assert reid_appearance_scale(m, "somebody_elses.onnx")[0] == 1.0
    path.write_text(text.replace("appearance_scale: 1.45", "appearance_scale: 9"))
    with pytest.raises(InputError, match=rf"models\.{before.default_reid}\.appearance_scale"):
        load_manifest(path)


def _tracklets(centres: np.ndarray, noise: float, seed: int = 0) -> list[Tracklet]:
    """One tracklet per centre, all in camera 1 at the same 40 steps (so every pair is a cannot-link)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(40)
    out = []
    for i, c in enumerate(centres):
        emb = c + rng.normal(0, noise, (40, len(c)))
        box = np.tile([50.0 * i, 20, 40, 120], (40, 1))
        out.append(Tracklet(1, i, steps, steps, box, np.full(40, 0.9), np.zeros((40, 2)), emb.astype(np.float16)))
    return out


def test_scale_follows_how_far_apart_a_model_puts_different_people():
    from mcpt.models.reid_calibrate import REFERENCE_GATE, tracklet_distances

    rng = np.random.default_rng(1)
    # a metric-trained model: people in nearly orthogonal directions (cosine ~0, distance / 2 ~0.5)
    apart = tracklet_distances(_tracklets(rng.normal(size=(5, 64)), noise=0.1))
    assert len(apart.same) == 5 * 20 * 20 and len(apart.different) == 10 * 40 * 40
    assert apart.auc > 0.99 and np.median(apart.same) < 0.05
    assert apart.scale == pytest.approx(np.median(apart.different) / REFERENCE_GATE, abs=0.01) and apart.scale > 1.4
    # an ImageNet-like model: everyone shares one large component (cosine ~0.75): the reference's scale
    common = rng.normal(size=64) * 3
    close = tracklet_distances(_tracklets(common + rng.normal(size=(5, 64)), noise=0.1))
    assert np.median(close.different) < REFERENCE_GATE and close.scale == 1.0
    # nobody seen together: nothing to calibrate on, said in one line
    alone = _tracklets(rng.normal(size=(1, 64)), noise=0.1)
    with pytest.raises(InputError, match="seen together"):
        _ = tracklet_distances(alone).scale
