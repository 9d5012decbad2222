"""A serving process's logs, as `log.*` configures them, with the upstream keys scrubbed from every line.

`routetax serve` calls it once; each `--workers` process calls it again after the fork (the writer thread
of its supervisor's output does not cross a fork) and stops it before it exits (a forked process skips
`atexit`, so what waits in its queue would be lost).
"""

from __future__ import annotations

from metering.logs.output import LogFormat, Output, configure
from router.config import Config
from router.secrets import Scrubber


def configure_logging(config: Config) -> Output:
    scrub = Scrubber([key for tier in config.tiers.values() if (key := tier.api_key())])
    return configure(LogFormat(config.log.format), config.log.level, config.log.access, scrub.line)
