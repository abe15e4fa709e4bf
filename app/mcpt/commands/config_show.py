"""``mcpt config``: print the effective configuration (defaults + file + overrides) as YAML."""

from __future__ import annotations

import argparse

HELP = "print the effective configuration as YAML (defaults, --config file, --set overrides, a scene's overrides)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config, or `reference`")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (repeatable)",
    )
    p.add_argument("--scene", help="apply this scene's overrides (scenes: {NAME: ...} in the file)")


def main(args: argparse.Namespace) -> int:
    import yaml

    from mcpt.config import load_config, to_dict

    cfg = load_config(args.config, args.overrides)
    if args.scene:
        cfg = cfg.for_scene(args.scene)
    data = to_dict(cfg)
    if not data.get("scenes"):
        data.pop("scenes", None)
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return 0
