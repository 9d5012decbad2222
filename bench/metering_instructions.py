"""Metering's instructions per request, counted by callgrind: what does not move with the machine's load.

`bench/metering_stages.py` measures each stage's CPU time inside a proxy under load, which a busy machine
inflates (a neighbour on the other core slows this one's caches). This counts instructions instead, in
process, over the records and answers a real proxy metered (`bench/metering_stages.py --capture FILE`): each
record is read back, its answer checked as the request path checks it (the degraded check's parse), quoted for
the cost header, run through the finished-request pipeline, and its ledger batch written to a real Redis by the
ledger's own writer (the Redis client's packing counted). The metrics are observed (batched or not). Not counted:
the router's stages (settling the key, cache loss, the policy's window — unchanged here), the access line (the
same with metering off), the socket and Redis itself.

A pass metering `--records N` less a pass that only makes and checks them (both with the same imports, set-up
and first 200 records metered, whose first use of everything is not the steady state), over N, is metering's
instructions per request. The code under test is whichever tree `PYTHONPATH` names, so two versions are compared
on one capture:

    PYTHONPATH=/path/to/tree .venv/bin/python bench/metering_instructions.py --capture FILE [--records 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WARM = 200


def load(capture: Path, records: int) -> list[dict[str, Any]]:
    import orjson

    pairs = [orjson.loads(line) for line in capture.read_bytes().splitlines() if line]
    pairs = [p for p in pairs if not p["streamed"] and p["answer"]]  # JSON answers: what perf.py's A/B sends
    return [pairs[i % len(pairs)] for i in range(records)]


STAGES = ("quote", "usage", "price", "metrics", "submit")  # `--count`: counted alone (the writer is the rest)


def count_alone(stage: str) -> None:
    """Route `stage` through `operator.call`, which callgrind's `--toggle-collect=_operator_call` counts alone."""
    from metering.ledger import Ledger
    from metering.metrics import Metrics
    from metering.pipeline import MeteringPipeline

    owner, name = {
        "quote": (MeteringPipeline, "quote"),
        "usage": (MeteringPipeline, "_complete_usage"),
        "price": (MeteringPipeline, "_price"),
        "metrics": (Metrics, "observe"),
        "submit": (Ledger, "submit"),
    }[stage]
    inner = getattr(owner, name)
    setattr(owner, name, lambda *args: operator.call(inner, *args))


async def meter(pairs: list[dict[str, Any]], redis_url: str, bare: bool = False) -> None:
    """Every pair through the request path's check, the quote, the pipeline and the ledger's writer (`bare`: only
    the record and the answer made and checked, what the count subtracts to leave metering's own)."""
    import redis.asyncio as redis

    from demo.world import demo_config
    from metering.completion import Completion
    from metering.ledger import Ledger
    from metering.pipeline import MeteringPipeline
    from metering.record import Record
    from router.metering_settings import metering_settings
    from router.serving.answers import parse_answer

    pipeline = MeteringPipeline(metering_settings(demo_config("http://127.0.0.1:9/v1")))
    store = redis.Redis.from_url(redis_url)
    pipeline.ledger = ledger = Ledger(store, tempfile.mkdtemp(prefix="routetax-instructions-"))
    await ledger.start()
    gc.freeze()  # as the proxy does once started: collections do not walk what the set-up made
    shares_parse = "answers" in Completion.__dataclass_fields__  # this tree hands the check's parse to metering
    for index, pair in enumerate(pairs):
        data = dict(pair["record"], request_id=f"{pair['record']['request_id']}-{index}")
        record = Record.from_dict(data)
        bodies = [None if body is None else body.encode() for body in pair["bodies"]]
        completion = Completion(request=pair["request"], bodies=bodies, streams=[None] * len(bodies))
        parsed = [None if body is None else parse_answer(body) for body in bodies]  # the degraded check, always
        if shares_parse:
            completion.answers = parsed
        if bare:
            continue
        pipeline.quote(record, completion)
        record.ended_at = time.time()
        pipeline(record, completion)
        if index % 8 == 7:  # the writer runs between requests, as on a loop serving them
            await asyncio.sleep(0)
    flush = getattr(pipeline.metrics, "flush", None)
    if flush is not None:
        flush()
    await ledger.drain()
    await ledger.aclose()
    await store.aclose()


def count(capture: Path, records: int, redis_url: str, bare: bool = False, stage: str | None = None) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    if stage is not None:
        command += ["--collect-atstart=no", "--toggle-collect=_operator_call"]
    command += [sys.executable, __file__, "--capture", str(capture), "--records", str(records), "--redis", redis_url]
    command += ["--pass"] + (["--bare"] if bare else []) + (["--count", stage] if stage is not None else [])
    environment = {**os.environ, "PYTHONHASHSEED": "0"}  # the set-up's dicts the same in every pass: a fixed count
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-2000:])
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capture", type=Path, required=True)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--redis", help="(a pass) the Redis to write to")
    ap.add_argument("--pass", dest="one_pass", action="store_true", help="one pass, uncounted (under valgrind)")
    ap.add_argument("--bare", action="store_true", help="(a pass) the records made and checked, not metered")
    ap.add_argument("--count", choices=STAGES, help="(a pass) that stage alone counted")
    ap.add_argument("--stages", action="store_true", help="each stage counted alone too")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    if args.count:
        count_alone(args.count)
    if args.one_pass:  # 200 records metered first, in every pass: what their first use costs (lazy imports, caches)
        # is in both passes, so the difference is the steady state's
        pairs = load(args.capture, WARM + args.records)
        asyncio.run(meter(pairs[:WARM], args.redis) if args.bare else meter(pairs, args.redis))
        if args.bare:  # the warm-up metered as in every pass, then the rest only made and checked
            asyncio.run(meter(pairs[WARM:], args.redis, bare=True))
        return 0
    from perf import free_port, wait_port

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        url = f"redis://127.0.0.1:{port}/0"
        subprocess.run(
            [sys.executable, __file__, "--capture", str(args.capture), "--records", "50", "--redis", url, "--pass"],
            check=True,
        )  # compiles what it imports: no pass counted pays for that
        bare = count(args.capture, args.records, url, bare=True)
        whole = count(args.capture, args.records, url)
        # a stage's count covers the warm-up's records too (counted alone, nothing is subtracted)
        alone = {
            stage: count(args.capture, args.records, url, stage=stage) for stage in (STAGES if args.stages else ())
        }
    finally:
        server.terminate()
        server.wait(5)
    print(
        f"metering's instructions per request (callgrind, {args.records:,} JSON requests): "
        f"{(whole - bare) / args.records:,.0f}"
    )
    for stage, spent in alone.items():
        print(f"  {stage:8s} {spent / (WARM + args.records):9,.0f}")
    if alone:
        rest = (whole - bare) / args.records - sum(alone.values()) / (WARM + args.records)
        print(f"  {'the rest (the ledger writer, the pipeline itself, the collector)':8s} {rest:9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
