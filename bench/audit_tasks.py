"""How well `routetax audit` groups logged requests into tasks, with and without the answers logged, and what
the grouping costs per request.

    .venv/bin/python bench/audit_tasks.py          # ≈ 20 s

Precision: a mix whose tasks are known — six-step agent runs (tau-bench airline style, no session ids), three-turn
chats that all open with one of three greetings (random replies, turns 20–90 s apart), one-off questions a fifth
of them identical — written shuffled, once as request/response pairs (answers logged) and once as bare bodies
(the prefix alone), read by the audit; the tasks found are compared with the truth request by request.

Cost: `TaskGroups` fed 200,000 requests with distinct keys (the worst case for its tables), one per second of log
time: bytes held per request (tracemalloc), and CPU time per request to hold and to group them.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import metering.audit.task_groups as task_groups  # noqa: E402
from metering.audit.formats import Observation  # noqa: E402
from metering.audit.scan import ScanOptions, scan  # noqa: E402
from metering.audit.sources import Source  # noqa: E402
from metering.record import Usage  # noqa: E402
from tests.test_audit_tasks import airline_run, bodies, single  # noqa: E402

T0 = 1_793_491_200
GREETINGS = ["Hi!", "Hello", "Can you help me?"]


def mix(rng: random.Random, runs: int = 100, chats: int = 150, singles: int = 200) -> tuple[list[Any], list[int]]:
    """(pairs, the true task of each), over 20 minutes of log time."""
    rows: list[dict[str, Any]] = []
    truth: list[int] = []
    for n in range(runs):
        for row in airline_run(f"R{n:03d}", T0 + rng.uniform(0, 1200)):
            rows.append(row)
            truth.append(n)
    for n in range(chats):
        messages: list[dict[str, Any]] = [{"role": "user", "content": rng.choice(GREETINGS)}]
        at = T0 + rng.uniform(0, 1200)
        for _ in range(3):
            reply = {"role": "assistant", "content": f"reply {rng.getrandbits(32):x}"}
            usage = {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40}
            answer = {"id": "c", "choices": [{"index": 0, "message": reply}], "usage": usage}
            request = {"model": "gpt-4o", "messages": [dict(m) for m in messages]}
            rows.append({"timestamp": at, "request": request, "response": answer})
            truth.append(runs + n)
            messages += [reply, {"role": "user", "content": rng.choice(["ok", "tell me more", "thanks", "why?"])}]
            at += rng.uniform(20, 90)
    for n in range(singles):
        rows.append(single("What is 2 + 2?" if n % 5 == 0 else f"Question {n}?", T0 + rng.uniform(0, 1200)))
        truth.append(runs + chats + n)
    return rows, truth


def precision() -> None:
    rng = random.Random(7)
    rows, truth = mix(rng)
    order = list(range(len(rows)))
    rng.shuffle(order)
    found: dict[str, list[int]] = {}
    walk = task_groups._walk

    def spy(*args: Any) -> Any:  # the walk's assignment of each request to a task, kept for the comparison
        out = walk(*args)
        found["task_of"] = list(out[0])
        return out

    task_groups._walk = spy
    true = [truth[i] for i in order]
    with tempfile.TemporaryDirectory() as tmp:
        for logged in ("pairs", "bodies"):
            path = Path(tmp) / f"{logged}.jsonl"
            lines = [rows[i] if logged == "pairs" else bodies([rows[i]])[0] for i in order]
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            tally = scan([Source(str(path))], ScanOptions())
            got = found["task_of"]
            true_sets: dict[int, set[int]] = defaultdict(set)
            got_sets: dict[int, set[int]] = defaultdict(set)
            for k, (t, g) in enumerate(zip(true, got, strict=True)):
                true_sets[t].add(k)
                got_sets[g].add(k)
            exact = sum(true_sets[true[k]] == got_sets[got[k]] for k in range(len(true)))
            g = tally.tasks
            assert g is not None
            print(
                f"{logged:<7} {len(true):,} requests: {g.tasks} tasks (truth {len(true_sets)}), {g.agentic_tasks} "
                f"agentic (truth 100); requests in exactly their true task {exact:,} ({exact / len(true):.1%}); "
                f"steps per task found {sorted(Counter(len(s) for s in got_sets.values()).items())}, truth "
                f"{sorted(Counter(len(s) for s in true_sets.values()).items())}"
            )
    task_groups._walk = walk


def cost(n: int = 200_000) -> None:
    rng = random.Random(1)
    observations = []
    for i in range(n):
        keys = (0, 0, 0, 0, *(rng.getrandbits(63) for _ in range(4)), rng.getrandbits(63), 0)
        usage = Usage(1000 + i % 500, 0, 40, 0)
        observations.append(
            Observation("pairs", "chat", i % 3 == 0, True, (), "m", usage, True, False, None, T0 + i, False, 2000, None)
        )
        observations[-1].task = keys
    tracemalloc.start()
    groups = task_groups.TaskGroups()
    before = tracemalloc.get_traced_memory()[0]
    for o in observations:
        groups.add(o)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    groups = task_groups.TaskGroups()
    cpu = time.process_time()
    for o in observations:
        groups.add(o)
    add_cpu = time.process_time() - cpu
    cpu = time.process_time()
    groups.finish(lambda fmt, agentic: 0.25)
    finish_cpu = time.process_time() - cpu
    print(
        f"cost    {n:,} requests: {held / n:.0f} bytes held per request; CPU {add_cpu / n * 1e6:.2f} us per request "
        f"to hold, {finish_cpu / n * 1e6:.2f} us to group"
    )


if __name__ == "__main__":
    precision()
    cost()
