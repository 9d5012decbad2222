"""A slow disk for a process started with this folder first on PYTHONPATH: every fsync takes 300 ms more.

Python imports `sitecustomize` at start-up, so the fault reaches the process under test without a hook in the
product. The ledger's spool fsyncs each batch; on a slow disk the writer sits in that fsync while requests
keep being answered (tests/test_nothing_lost_or_refused.py).
"""

import os
import time

_fsync = os.fsync


def _slow_fsync(fd: int) -> None:
    time.sleep(0.3)
    _fsync(fd)


os.fsync = _slow_fsync
