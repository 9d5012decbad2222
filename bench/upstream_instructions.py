"""Instructions a request costs in routetax's upstream client alone, by callgrind: send, read the answer, give the
connection back.

The client is on every request's path (and every stream's opening), and its cost is the same whatever the load,
so it is counted, not timed: a child process runs `UpstreamPool` (router/upstream.py) from the tree `--tree`
names against bench/fixed_upstream.py under `valgrind --tool=callgrind` with instrumentation off; after a warm-up
the parent turns instrumentation on for `--requests` requests one after another (POST, read the JSON answer,
close), then off, and divides the count by the requests. The upstream runs on the other core, outside valgrind.
`--tree` takes an older checkout (`git archive` of it) for a before/after in one run.

Run: .venv/bin/python bench/upstream_instructions.py [--tree DIR ...] [--requests 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from perf import PROXY_CORE, REST_CORE, free_port, pinned, wait_port  # noqa: E402
from relay_instructions import VALGRIND, callgrind_control, instructions_in  # noqa: E402

CHILD = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import uvloop
from router.config import Tier
from router.upstream import UpstreamPool

TEXT = b"Summarise: " + b"lorem ipsum dolor " * 10
PAYLOAD = b'{"model":"gpt-5.4-nano","messages":[{"role":"user","content":"' + TEXT + b'"}]}'

async def calls(pool, n):
    for _ in range(n):
        response = await pool.send("nano", "/chat/completions", PAYLOAD)
        await response.read()
        response.close()

async def main():
    pool = UpstreamPool({"nano": Tier(model="gpt-5.4-nano", base_url=sys.argv[2], api_key_env=None)})
    await pool.start()
    await calls(pool, 200)
    print("ready", flush=True)
    sys.stdin.readline()
    await calls(pool, int(sys.argv[3]))
    print("done", flush=True)
    sys.stdin.readline()
    await pool.aclose()

uvloop.run(main())
"""


def count(tree: Path, base_url: str, requests: int, out: Path) -> int:
    """Instructions per request of `tree`'s client."""
    child = pinned(
        PROXY_CORE,
        [*VALGRIND, f"--callgrind-out-file={out}", sys.executable, "-c", CHILD, str(tree), base_url, str(requests)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    callgrind_control("-i", "on", str(child.pid))
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "done"
    callgrind_control("-i", "off", str(child.pid))
    child.stdin.write("exit\n")
    child.stdin.flush()
    child.wait(300)
    return round(instructions_in(out) / requests)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", type=Path, action="append", help="a source tree to count (repeatable; default: this one)")
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    port = free_port()
    upstream = pinned(REST_CORE, [sys.executable, str(HERE / "fixed_upstream.py"), str(port)])
    try:
        wait_port(port)
        with tempfile.TemporaryDirectory() as tmp:
            for index, tree in enumerate(args.tree or [HERE.parent]):
                per_request = count(
                    tree.resolve(), f"http://127.0.0.1:{port}/v1", args.requests, Path(tmp) / f"{index}.out"
                )
                print(f"{tree}: {per_request:,} instructions a request (send, read, close; {args.requests} requests)")
    finally:
        upstream.terminate()
        upstream.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
