"""The agentic share's interval: sampling error and the classifier's own measured error, both carried.

The share the audit prints is the share of requests the classifier called agentic. Two things keep it from being
the true share: the logs are a sample of the traffic, and the classifier errs. Its error is measured on requests
it was never developed on (classifier/measured.py: on the held-out captures it called 26 of 530 agentic requests
single-turn and none of 167 single-turn requests agentic). If it catches a fraction r of agentic requests and
wrongly calls a fraction f of single-turn ones agentic, the classified share p of traffic whose true share is θ is
p = θ·r + (1 − θ)·f, so θ = (p − f) / (r − f).

How much of that held-out error a team's traffic meets is not known: on styles the classifier was written on it
was right on every request, on styles never seen it missed more. So the interval takes the classifier anywhere
between right on every request (r = 1, f = 0) and as wrong as the held-out captures allow at their 95% bound:
r from 1 down to the Wilson lower bound of 504/530, f from 0 up to the Wilson upper bound of 0/167 — together with
p's own Wilson interval over the requests read. θ falls as r or f rises (for f < p < r), so its extremes are at
the corners: low = (p_low − f_high) / (1 − f_high), high = p_high / r_low. Each of the three Wilson intervals is
taken at 98.33%, so that all three hold at once with probability at least 95% (Bonferroni): a bound, not a
bootstrap — the audit stays one pass and its answer the same on every run.

LiteLLM rows stored with `spend_logs_prompt_storage: latest_turn` that nothing could class (metering/audit/
latest_turn.py: a text turn without a session that shows tools) are counted single-turn in the share; the
interval's high end counts them agentic, since either may be true.

The requests are counted as independent draws; an agent's steps are not (a task's steps share its class), so with
few long tasks the sampling part is too narrow. The classifier's part, at these counts, is the wider one.
"""

from __future__ import annotations

from typing import Any

from classifier.measured import HELD_OUT, HELD_OUT_CORPUS, Confusion
from metering.audit.latest_turn import Read
from metering.audit.scan import Tally
from metering.tax.intervals import wilson

LEVEL = 0.95
RATES = 3  # the share read, the classifier's catch rate, its false-alarm rate: each at LEVEL's Bonferroni share
Z_EACH = 2.3939797998185104  # normal quantile at 1 - (1 - LEVEL) / RATES / 2 (statistics costs 4 ms to import)
METHOD = (
    f"Wilson intervals at {1 - (1 - LEVEL) / RATES:.2%} for the share read and for the classifier's catch and "
    f"false-alarm rates on its held-out captures ({HELD_OUT_CORPUS}), combined at their extremes (Bonferroni: "
    f"all three hold with probability at least {LEVEL:.0%}); the classifier taken anywhere between right on every "
    "request and as wrong as those captures allow"
)


def agentic_share_interval(
    agentic: int, requests: int, undetermined: int = 0, confusion: Confusion = HELD_OUT
) -> dict[str, Any] | None:
    """The true agentic share's interval at `LEVEL`, or None without requests; `undetermined`: requests read as
    single-turn that could as well be agentic (latest-turn rows)."""
    read = wilson(agentic, requests, Z_EACH)
    if read is not None and undetermined:
        widened = wilson(min(agentic + undetermined, requests), requests, Z_EACH)
        read = (read[0], widened[1]) if widened is not None else read
    catch = wilson(confusion.agentic_as_agentic, confusion.agentic, Z_EACH)
    false_alarm = wilson(confusion.single_turn_as_agentic, confusion.single_turn, Z_EACH)
    if read is None or catch is None or false_alarm is None:
        return None
    (p_low, p_high), catch_low, false_high = read, catch[0], false_alarm[1]
    low = max(0.0, (p_low - false_high) / (1 - false_high))
    high = min(1.0, p_high / catch_low) if catch_low > 0 else 1.0
    return {
        "low": low,
        "high": high,
        "level": LEVEL,
        "includes_classifier_error": True,
        "undetermined_requests": undetermined,
        "sampling_only": [p_low, p_high],
        "classifier_catch_rate_low": catch_low,
        "classifier_false_alarm_rate_high": false_high,
        "method": METHOD,
    }


def undetermined_rows(tally: Tally) -> int:
    """Latest-turn rows nothing could class (counted single-turn), when the logs show that storage."""
    return tally.latest_turn[Read.UNDETERMINED.value] if tally.latest_turn_proven else 0
