"""One module per ``mcpt`` command: ``HELP``, ``configure(parser)`` and ``main(args) -> int``.

Modules here import only argparse-level code at the top so ``mcpt --help`` stays fast; each
``main`` imports what its command needs.
"""
