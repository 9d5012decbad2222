"""Which tasks the judge grades: a share of them, drawn once per task from its identity.

The draw is a keyed hash of (key, task id) compared with the share, so every step of a task, every
worker and every replica agrees on it without asking anyone, and only the sampled tasks keep anything.
Its own key makes it independent of the exploration draw (which hashes the task id with the exploration
seed): the judged tasks are a random sample of every arm, not a slice of one.
"""

from __future__ import annotations

import hashlib

_KEY = b"routetax-judge-sample"
_SCALE = float(1 << 64)


def sampled(key_id: str | None, task_id: str, share: float) -> bool:
    """Is this task in the judge's sample? The same answer for the same task everywhere, always."""
    if share >= 1.0:
        return True
    material = f"{key_id or '-'}\x00{task_id}".encode()
    draw = int.from_bytes(hashlib.blake2b(material, digest_size=8, key=_KEY).digest(), "big") / _SCALE
    return draw < share
