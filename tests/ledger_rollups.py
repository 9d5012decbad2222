"""Reading the ledger's hourly rollups back, for the tests that check them.

The product writes the rollups for operators (`HGETALL` on the keys in docs/ledger.md) and its report
reads records, so nothing in routetax reads them back: these readers live with the tests.
"""

from __future__ import annotations

from metering.ledger import Keys, hour_of
from metering.store import Store


async def rollup(store: Store, hour: str | float) -> dict[str, int | float]:
    """The hour's rollup: `tier|class|metric` -> value (`*_usd` fields are floats, the rest counts)."""
    return _parse_hash(await store.hgetall(Keys().hour(hour_of(hour))))


async def key_rollup(store: Store, key_id: str, hour: str | float) -> dict[str, int | float]:
    """One client key's hour: `requests`, `cost_usd`, `tokens`."""
    return _parse_hash(await store.hgetall(Keys().key_hour(key_id, hour_of(hour))))


def _parse_hash(raw: dict) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        text = value.decode() if isinstance(value, bytes) else value
        out[name] = float(text) if name.endswith("_usd") else int(text)
    return out
