"""`policy.mode: auto` — when two models cost more than one, send everything to mini.

The published analysis says dual-tier routing stops paying above a break-even agentic
share. In `auto` mode the router watches its own traffic: over a sliding window of recent
requests it measures the agentic share and the break-even share (with the report's
definitions), switches to mini-only when the share stays above the break-even by a margin,
and back to dual-tier when it falls below it by the same margin (hysteresis, so a share
hovering at the line does not flap). Every switch is logged and counted.

The same periodic evaluation feeds the routing-tax gauges, so dashboards and alerts see
the measured figures without anyone running `routetax report`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from metering.record import Record
from metering.tax import Assumptions, build_report
from metering.tax import model as tax_model
from metering.tax.break_even import LIVE_MAX_DRAWS, LIVE_RESAMPLES

log = logging.getLogger("routetax.policy")

DUAL, MINI_ONLY = "dual", "mini_only"


@dataclass
class AutoMode:
    """Sliding-window evaluation of the routing tax, and the dual / mini-only switch."""

    enabled: bool = False
    window_requests: int = 500
    min_requests: int = 50
    hysteresis: float = 0.03
    evaluate_every_s: float = 5.0
    assumptions: Assumptions = field(default_factory=Assumptions)  # hours are set per evaluation
    mode: str = DUAL
    switches: list[dict[str, Any]] = field(default_factory=list)
    last_report: dict[str, Any] | None = None
    break_even: float | None = None  # the last break-even measured while routing dual-tier
    break_even_source: str = "model"
    _window: deque[Record] = field(default_factory=deque)
    _feedback: dict[str, bool] = field(default_factory=dict)
    _last_evaluation: float = 0.0

    def observe(self, record: Record) -> None:
        """A finished record (the metering pipeline's policy stage, after the client has its answer).

        Only tasks' steps: an embeddings request would take a task's place in the window and say nothing of it.
        """
        if not record.is_task:
            return
        self._window.append(record)
        while len(self._window) > self.window_requests:
            dropped = self._window.popleft()
            self._feedback.pop(dropped.request_id, None)
        now = time.monotonic()
        if now - self._last_evaluation >= self.evaluate_every_s:
            self._last_evaluation = now
            self.evaluate()

    def feedback(self, request_id: str, success: bool) -> None:
        self._feedback[request_id] = success

    def evaluate(self) -> dict[str, Any]:
        records = list(self._window)
        hours = 0.0
        if records:
            hours = (max(r.ended_at or r.started_at for r in records) - min(r.started_at for r in records)) / 3600
        # the switch reads the break-even point; its interval (the gauges) gets the live bootstrap budget, since
        # this runs on the event loop every few seconds (metering/tax/break_even.py)
        live = replace(
            self.assumptions,
            hours=hours,
            break_even_resamples=LIVE_RESAMPLES,
            break_even_max_draws=LIVE_MAX_DRAWS,
        )
        self.last_report = build_report(records, self._feedback, live)
        if self.enabled and len(records) >= self.min_requests:
            self._maybe_switch(self.last_report["measured"])
        return self.last_report

    @property
    def mini_only(self) -> bool:
        return self.mode == MINI_ONLY

    def _maybe_switch(self, measured: dict[str, Any]) -> None:
        share = measured["agentic_share"]
        if self.mode == DUAL:
            # Dual-tier costs can only be observed while routing dual-tier: the break-even is measured
            # here and kept, as measured, for the way back from mini-only.
            if measured["break_even_agentic_share"] is not None:
                self.break_even, self.break_even_source = measured["break_even_agentic_share"], "measured"
        break_even = self.break_even
        if break_even is None:  # not measurable yet (a class unseen): the published figure
            break_even, self.break_even_source = tax_model.break_even_agentic_share(), "model"
        source = self.break_even_source
        if share is None:
            return
        target = self.mode
        if self.mode == DUAL and share > break_even + self.hysteresis:
            target = MINI_ONLY
        elif self.mode == MINI_ONLY and share < break_even - self.hysteresis:
            target = DUAL
        if target != self.mode:
            switch = {
                "at": time.time(),
                "from": self.mode,
                "to": target,
                "agentic_share": share,
                "break_even": break_even,
                "break_even_source": source,
            }
            self.switches.append(switch)
            log.warning(
                "policy auto: %s -> %s (agentic share %.3f vs %s break-even %.3f)",
                self.mode,
                target,
                share,
                source,
                break_even,
            )
            self.mode = target
            # Measure the new regime on its own traffic: records routed under the old one would mix
            # mini-only costs into a dual-tier break-even (and make the policy flap).
            self._window.clear()
            self._feedback.clear()
