"""``mcpt calibrate-reid``: fit the association's appearance thresholds to a ReID model, from unlabelled video."""

from __future__ import annotations

import argparse

HELP = "measure a ReID model's distances on a site's own tracklets (no labels) and set its appearance scale"
EXAMPLE = "mcpt calibrate-reid site/scene_001 --perception mine --write"
DESCRIPTION = (
    "Reads camera_XXXX/perception_NAME.npz recorded by `mcpt perceive` (or `--reembed`), runs the single-camera "
    "tracker over it, and compares the ReID model's embeddings within confident tracklets (first half against "
    "second half: one person) and between tracklets seen together in one camera (two people). No ground truth is "
    "read. The association's appearance thresholds were set for the reference's model, whose gate (0.30, cosine "
    "distance / 2) lies where two different people typically are; the appearance scale stretches them to this "
    "model's typical distance between two people (never below 1). With --write it is stored in models.yaml for "
    "the model, where `mcpt run`, `mcpt track` and the DeepStream backend take it from "
    "(association.appearance_scale in a configuration overrides it). Record first, e.g. "
    "`mcpt perceive site/scene_001 --name mine --reid mine.onnx`."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("scenes", nargs="+", help="scene or split folders with recorded perception (no labels needed)")
    p.add_argument("--perception", default="real", help="the recorded perception's name (default real)")
    p.add_argument("--write", action="store_true", help="store the appearance scale in models.yaml")
    p.add_argument("--model", help="the manifest entry to write (default: the one that embedded the perception)")


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from mcpt.errors import InputError
    from mcpt.models.manifest import load_manifest
    from mcpt.models.reid_calibrate import (
        REFERENCE_GATE,
        AppearanceDistances,
        recorded_reid,
        scene_tracklets,
        tracklet_distances,
        write_appearance_scale,
    )
    from mcpt.scene.layout import discover_scenes
    from mcpt.table import format_table

    scenes = [s for path in args.scenes for s in discover_scenes(path)]
    parts = [tracklet_distances(scene_tracklets(s, args.perception)) for s in scenes]
    d = AppearanceDistances(
        np.concatenate([p.same for p in parts]),
        np.concatenate([p.different for p in parts]),
        sum(p.tracklets for p in parts),
    )
    print(
        format_table(["cosine distance / 2", "pairs", "5%", "25%", "median", "75%", "95%"], d.quantile_rows(), digits=3)
    )
    scale = d.scale
    print(
        f"\n{d.tracklets} confident tracklets; AUC {d.auc:.3f} (a different-people pair farther apart than a "
        f"same-person pair); appearance scale x{scale:.2f} (median different-people distance "
        f"{np.median(d.different):.3f} / the reference's gate {REFERENCE_GATE:.2f}, at least 1)"
    )
    if args.write:
        manifest = load_manifest()
        name = args.model or recorded_reid(scenes[0], args.perception)
        spec = manifest.reid_for(name) if name else None
        if spec is None:
            raise InputError(manifest.path, f"no ReID model {name!r} to write; name one with --model", field="models")
        note = f"mcpt calibrate-reid {' '.join(args.scenes)} --perception {args.perception} ({d.tracklets} tracklets)"
        write_appearance_scale(manifest.path, spec.name, scale, note)
        print(f"wrote models.{spec.name}.appearance_scale in {manifest.path}")
    return 0
