"""``mcpt doctor``: the first command on a new machine: what each of mcpt's paths has here, and the fixes."""

from __future__ import annotations

import argparse

HELP = "check this machine for the CPU and the DeepStream paths: versions, models, GStreamer elements, GPU"
EXAMPLE = "mcpt doctor"
DESCRIPTION = (
    "Prints one line per requirement with its verdict and the fix. Exits 0 when the CPU path is complete "
    "(the DeepStream lines then only say whether that path can run here), 1 otherwise. On a DeepStream "
    "machine it is the checklist before `make engines`.\n\nexample: mcpt doctor"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def main(args: argparse.Namespace) -> int:
    from mcpt.doctor import run_checks, verdict
    from mcpt.table import format_table

    checks = run_checks()
    rows = [[c.path, c.name, c.status, c.detail[:70], c.fix] for c in checks]
    print(format_table(["path", "check", "verdict", "found", "fix"], rows))
    cpu, ds = verdict(checks)
    print()
    print(f"CPU path: {'ready' if cpu else 'NOT ready: see the missing lines'}")
    print(f"DeepStream path: {'ready' if ds else 'unavailable on this machine (its missing lines say why)'}")
    return 0 if cpu else 1
