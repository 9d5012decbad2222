"""The `routetax` command: the composition root above every package.

One argparse parser holds every subcommand (`main.py`); each command is a small module here that
reads the configuration itself and calls the library — `router`, `metering`, `classifier`,
`emulator`, `demo` — with explicit arguments. Dependencies point one way: `cli` → `demo` →
`router` → `classifier`, `metering`; nothing imports `cli` (tests/test_layering.py checks it).
"""

from cli.main import build_parser, main

__all__ = ["build_parser", "main"]
