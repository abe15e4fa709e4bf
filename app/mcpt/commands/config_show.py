"""``mcpt config``: print the effective configuration (defaults + file + overrides) as YAML."""

from __future__ import annotations

import argparse

from mcpt.commands.track import add_config_args, config_from_args

HELP = "print the effective configuration as YAML (defaults, --config file, --set overrides, a scene's overrides)"
EXAMPLE = "mcpt config --set association.tracker.euc_thresh=2.0"


def configure(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--scene", help="apply this scene's overrides (scenes: {NAME: ...} in the file)")
    p.add_argument(
        "--detector-thresholds",
        action="store_true",
        help="fill the score thresholds left unset with the default detector's operating points, as `mcpt run` does",
    )


def main(args: argparse.Namespace) -> int:
    import yaml

    from mcpt.config import to_dict

    cfg = config_from_args(args)
    if args.scene:
        cfg = cfg.for_scene(args.scene)
    if args.detector_thresholds:
        from mcpt.models.manifest import detector_operating_points, load_manifest

        ops, origin = detector_operating_points(load_manifest())
        cfg = cfg.with_operating_points(ops)
        print(f"# score thresholds not set here: {origin}")
    else:
        print("# score thresholds left null: the detector's operating points (models.yaml; --detector-thresholds)")
    data = to_dict(cfg)
    if not data.get("scenes"):
        data.pop("scenes", None)
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return 0
