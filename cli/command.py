"""What the command modules share: how a command joins the one parser, and how it reads the configuration.

A command module has `register(subparsers)`, which adds its subcommand and sets `run` — the function
`main` calls with the parsed arguments, returning the exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.config import Config

Subparsers = argparse._SubParsersAction  # argparse names no public type for `add_subparsers()`'s result


def load_config_or_say(config_file: str | None, who: str) -> Config | None:
    """The configuration (`--config`, else `$ROUTETAX_CONFIG`, else the defaults), or None after saying why not.

    `who` opens the message (`routetax price`): a bad value is a usage error the command answers with exit 2.
    """
    from router.config import ConfigError, load_config

    try:
        return load_config(config_file)
    except ConfigError as exc:
        print(f"{who}: {exc}", file=sys.stderr)
        return None
