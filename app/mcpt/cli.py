"""The ``mcpt`` command line: one subcommand per job, one-line errors, exit code 2 on bad input."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from mcpt import __version__
from mcpt.errors import InputError

# (command, module under mcpt.commands) in the order ``mcpt --help`` lists them.
COMMANDS = (
    ("doctor", "doctor"),
    ("demo", "demo"),
    ("run", "run"),
    ("track", "track"),
    ("associate", "associate"),
    ("simulate", "simulate"),
    ("perceive", "perceive"),
    ("calibrate-detector", "calibrate"),
    ("calibrate-reid", "calibrate_reid"),
    ("prepare", "prepare"),
    ("train", "train"),
    ("adapt", "adapt"),
    ("eval", "evaluate"),
    ("merge", "merge"),
    ("config", "config_show"),
    ("export", "export"),
    ("engines", "engines"),
    ("ds-config", "ds_config"),
)


class _ExampleFormatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual; the example lines kept as written (they are commands to copy)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def _commands():
    for name, module in COMMANDS:
        yield name, importlib.import_module(f"mcpt.commands.{module}")


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="warnings and errors only, no progress bars"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcpt",
        description="Online multi-camera people tracking: one global identity and a floor position per person.",
    )
    parser.add_argument("--version", action="version", version=f"mcpt {__version__}")
    _add_verbosity(parser, default=False)
    # The same flags after the command name; SUPPRESS keeps them from resetting the top-level ones.
    common = argparse.ArgumentParser(add_help=False)
    _add_verbosity(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, mod in _commands():
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            epilog=f"example:\n  {mod.EXAMPLE}",
            formatter_class=_ExampleFormatter,
            parents=[common],
        )
        mod.configure(p)
        for action in p._actions:  # the same flags after a sub-command's own sub-command (mcpt train reid -q)
            if isinstance(action, argparse._SubParsersAction):
                for nested in action.choices.values():
                    _add_verbosity(nested, default=argparse.SUPPRESS)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        return int(args._main(args) or 0)
    except InputError as e:
        print(f"mcpt {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"mcpt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
