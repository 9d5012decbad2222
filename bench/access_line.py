"""What one access line costs in CPU, in-process: on the event loop's thread, and in all (with the writer thread).

The A/B of `perf.py --access-log` measures the access log through real processes, where a busy machine's
noise is larger than the access log's price; this measures the line's own work. Lines are written the way a
proxy at concurrency 1 writes them — one per request, with a pause between (`--gap-us`) — so the writer's
wake-ups are counted too, not only a tight loop's batched writes. The pauses are left out: CPU time only.

Run: .venv/bin/python bench/access_line.py [--lines N] [--gap-us G] [--runs R]
"""

from __future__ import annotations

import argparse
import contextvars
import dataclasses
import logging
import os
import time

from metering.logs import access, context, output
from metering.record import Record
from router.secrets import Scrubber
from tests.test_logs_unit import record as unit_test_record


def sample_record(index: int) -> Record:
    """The unit tests' access-log record (a retry and a fallback, usage, a cost), under its own request id."""
    return dataclasses.replace(unit_test_record(), request_id=f"req-{index:012x}")


def one_run(lines: int, gap_s: float, on: bool) -> tuple[float, float]:
    """(µs of CPU per request on the calling thread, µs of CPU per request in the process), pauses excluded;
    `on`: with the access log (else `log.access: false`, the baseline: the request's context alone)."""
    fd = os.open(os.devnull, os.O_WRONLY)
    out = output.configure(access=on, scrub=Scrubber(["sk-upstream-secret-0123456789"]).line)
    out.fd = fd
    records = [sample_record(i) for i in range(lines)]

    def request(record: Record) -> None:
        context.begin(record.request_id)
        access.finished(record)

    # the pauses' own CPU (a sleep's syscall), measured alone and subtracted
    idle_thread, idle_process = time.thread_time(), time.process_time()
    for _ in range(lines):
        time.sleep(gap_s)
    idle_thread, idle_process = time.thread_time() - idle_thread, time.process_time() - idle_process
    thread0, process0 = time.thread_time(), time.process_time()
    for record in records:
        contextvars.copy_context().run(request, record)
        time.sleep(gap_s)
    out.flush()
    thread_cpu, process_cpu = time.thread_time() - thread0 - idle_thread, time.process_time() - process0 - idle_process
    output.stop()
    os.close(fd)
    return thread_cpu / lines * 1e6, process_cpu / lines * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--gap-us", type=float, default=500.0, help="pause between lines (0: a tight loop)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger().handlers.clear()
    sides: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.runs):  # in turns, so a burst of load on the machine falls on both sides
        for on in (False, True):
            sides[on].append(one_run(args.lines, args.gap_us / 1e6, on))
    for on, results in sides.items():
        for loop_us, total_us in results:
            print(f"access {'on ' if on else 'off'}: loop thread {loop_us:6.1f} us   process {total_us:6.1f} us")
    (off_loop, off_total), (on_loop, on_total) = (
        min(sides[False], key=lambda r: r[1]),
        min(sides[True], key=lambda r: r[1]),
    )
    print(
        f"an access line, best of {args.runs} (on - off): loop thread {on_loop - off_loop:.1f} us, "
        f"process {on_total - off_total:.1f} us ({args.lines} requests {args.gap_us:g} us apart, "
        f"load {os.getloadavg()[0]:.1f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
