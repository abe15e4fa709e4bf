"""``mcpt config``: print the effective configuration (defaults + file + overrides) as YAML."""

from __future__ import annotations

import argparse

from mcpt.commands.track import add_config_args, config_from_args

HELP = "print the effective configuration as YAML (defaults, --config file, --set overrides, a scene's overrides)"


def configure(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--scene", help="apply this scene's overrides (scenes: {NAME: ...} in the file)")


def main(args: argparse.Namespace) -> int:
    import yaml

    from mcpt.config import to_dict

    cfg = config_from_args(args)
    if args.scene:
        cfg = cfg.for_scene(args.scene)
    data = to_dict(cfg)
    if not data.get("scenes"):
        data.pop("scenes", None)
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return 0
