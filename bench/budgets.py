"""How far past its budget and rates a key can go: three `routetax serve` replicas on one redis-server.

The scenarios of tests/test_budget_bound.py, with their figures printed instead of asserted: a huge request
on a fresh $0.01 key; concurrent long answers (≈ 4,000 tokens on mini, half of them without `max_tokens`);
redo chains (nano and mini answer empty, full redoes it); an rpm burst, and the same key 7 s later; a tpm
burst of long answers. The upstream is this tree's emulator (200 ms per answer, so requests overlap; it
stops at the output cap it is asked for, as a real model does) whichever routetax runs, so `--before SRC`
runs the same scenarios against another source tree's proxy (e.g. `git archive main | tar -x -C /tmp/main`).

Run: .venv/bin/python bench/budgets.py [--before /tmp/main] [--json bench/results/budgets.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from perf import free_port  # noqa: E402

HELLO = [{"role": "user", "content": "Write a long essay on routing."}]
LONG_ANSWER = " ".join(["routing pays when the cheap tier finishes"] * 700)  # ≈ 4,900 tokens
HUGE_ANSWER = " ".join(["routing pays when the cheap tier finishes"] * 14_000)  # ≈ 98,000 tokens


def wait_up(url: str, process: subprocess.Popen[Any], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            httpx.get(f"{url}/healthz", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class World:
    """redis-server, the emulator and three replicas of the routetax in `src`."""

    def __init__(self, src: Path, tmp: Path) -> None:
        self.src, self.tmp = src, tmp
        self.processes: list[subprocess.Popen[Any]] = []
        redis_port, emulator_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self._start(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"], ROOT)
        self.emulator = f"http://127.0.0.1:{emulator_port}"
        mock = ["mock-upstream", "--port", str(emulator_port), "--latency-ms", "200", "--seed", "1"]
        wait_up(self.emulator, self._start([sys.executable, "-m", "cli", *mock], ROOT))
        self.config = tmp / "routetax.yaml"
        self.urls = []
        for index in range(3):
            port = free_port()
            config = tmp / f"replica{index}.yaml"
            config.write_text(
                "tiers:\n"
                f"  nano: {{model: gpt-5.4-nano, base_url: '{self.emulator}/v1'}}\n"
                f"  mini: {{model: gpt-5.4-mini, base_url: '{self.emulator}/v1'}}\n"
                f"  full: {{model: gpt-5.4, base_url: '{self.emulator}/v1'}}\n"
                f"store: {{redis_url: '{self.redis_url}', spool_dir: '{tmp / f'spool{index}'}'}}\n"
                f"server: {{port: {port}}}\n"
            )
            url = f"http://127.0.0.1:{port}"
            wait_up(url, self._start([sys.executable, "-m", "cli", "serve", "--config", str(config)], src))
            self.urls.append(url)
        self.config.write_text(f"store: {{redis_url: '{self.redis_url}'}}\n")
        self.redis = redis.Redis.from_url(self.redis_url)

    def _start(self, argv: list[str], cwd: Path) -> subprocess.Popen[Any]:
        env = {**os.environ, "PYTHONPATH": str(cwd)}
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            process.wait(15)

    def key(self, name: str, *limits: str) -> dict[str, Any]:
        argv = [sys.executable, "-m", "cli", "keys", "--config", str(self.config), "create", "--name", name]
        out = subprocess.run(
            [*argv, "--period", "day", *limits, "--json"],
            cwd=self.src,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(self.src)},
        )
        return json.loads(out.stdout)

    def script(self, model: str, **body: Any) -> None:
        httpx.post(f"{self.emulator}/_mock/script", json={"model": model, **body}).raise_for_status()

    def burst(self, key: dict[str, Any], bodies: list[dict[str, Any]], **headers: str) -> list[httpx.Response]:
        def send(index: int) -> httpx.Response:
            return httpx.post(
                f"{self.urls[index % 3]}/v1/chat/completions",
                json=bodies[index],
                headers={"authorization": f"Bearer {key['key']}", **headers},
                timeout=120,
            )

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            return list(pool.map(send, range(len(bodies))))

    def spent(self, key: dict[str, Any]) -> float:
        """The key's spend once every settlement has landed (nothing reserved any more)."""
        reserved = f"routetax:{{keys}}:reserved:{key['id']}"
        deadline = time.monotonic() + 30
        while float(self.redis.get(reserved) or 0) > 1e-12 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a key without a reservation (main's lone requests) settles within the second
        day = datetime.now(UTC).strftime("%Y%m%d")
        return float(self.redis.hget(f"routetax:{{keys}}:budget:{key['id']}:{day}", "spent") or 0)


def codes(answers: list[httpx.Response]) -> dict[str, int]:
    return dict(Counter("ok" if a.status_code == 200 else a.json()["error"]["code"] for a in answers))


def scenarios(world: World) -> list[dict[str, Any]]:
    rows = []

    def budget_row(name: str, budget: float, key: dict[str, Any], answers: list[httpx.Response]) -> None:
        spent = world.spent(key)
        rows.append(
            {
                "scenario": name,
                "budget_usd": budget,
                "spent_usd": round(spent, 6),
                "over_pct": round(100 * (spent - budget) / budget, 1),
                "answers": codes(answers),
            }
        )

    world.script("gpt-5.4", answers=[HUGE_ANSWER])  # what an uncapped essay on full can be: ≈ 98K tokens
    key = world.key("fresh", "--budget-usd", "0.01")
    budget_row(
        "huge request, fresh key",
        0.01,
        key,
        world.burst(key, [{"model": "full", "messages": HELLO, "max_tokens": 128_000}]),
    )

    world.script("gpt-5.4-mini", answers=[LONG_ANSWER] * 120)
    for budget in (0.01, 0.1):
        key = world.key(f"long-{budget}", "--budget-usd", str(budget))
        bodies = [{"model": "mini", "messages": HELLO, **({"max_tokens": 4000} if i % 2 else {})} for i in range(30)]
        budget_row(f"long answers, ${budget}", budget, key, world.burst(key, bodies, **{"x-routetax-fallback": "off"}))

    key = world.key("redo", "--budget-usd", "0.05")
    world.script("gpt-5.4-nano", outcomes=["empty"] * 40)
    world.script("gpt-5.4-mini", outcomes=["empty"] * 40)
    budget_row(
        "redo chains", 0.05, key, world.burst(key, [{"model": "nano", "messages": HELLO, "max_tokens": 300}] * 40)
    )

    key = world.key("paced", "--rpm", "20")
    started = time.monotonic()
    first = world.burst(key, [{"model": "nano", "messages": HELLO, "max_tokens": 50}] * 30)
    time.sleep(max(0.0, 7 - (time.monotonic() - started)))
    later = world.burst(key, [{"model": "nano", "messages": HELLO, "max_tokens": 50}] * 5)
    admitted = codes(first).get("ok", 0) + codes(later).get("ok", 0)
    rows.append({"scenario": "rpm 20: 30 at once, 5 more 7 s later", "admitted_in_60s": admitted, "limit": 20})

    world.script("gpt-5.4-nano", answers=[LONG_ANSWER] * 40)
    key = world.key("tokens", "--tpm", "20000")
    answers = world.burst(key, [{"model": "nano", "messages": HELLO, "max_tokens": 1000}] * 40)
    used = sum(a.json()["usage"]["total_tokens"] for a in answers if a.status_code == 200)
    rows.append(
        {
            "scenario": "tpm 20,000: 40 long answers at once",
            "tokens_in_60s": used,
            "limit": 20_000,
            "answers": codes(answers),
        }
    )
    return rows


def run(src: Path) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(src, Path(tmp))
        try:
            return scenarios(world)
        finally:
            world.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="also run another source tree's routetax (e.g. main)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "this": run(ROOT)}
    if args.before is not None:
        results["before"] = run(args.before.resolve())
    for side in ("this", "before"):
        for row in results.get(side, []):
            print(side, json.dumps(row))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
