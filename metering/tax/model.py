"""The published model of the routing tax (`routetax model`), evaluated exactly.

This is the claim routetax checks traffic against, so it is kept as the analysis states
it: input prices only ($/1M: nano 0.20, mini 0.75), a routing overhead between 0.15 and
0.20, success rates 0.39 vs 0.721 on agentic work. Pure functions; the measured side lives
in the routing-tax report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from metering.tax.roles import Role

NANO_INPUT = 0.20  # $/1M input tokens
MINI_INPUT = 0.75
NANO_OUTPUT = 1.25
MINI_OUTPUT = 4.50
OVERHEAD_LOW, OVERHEAD_HIGH = 0.15, 0.20
OVERHEAD_MID = (OVERHEAD_LOW + OVERHEAD_HIGH) / 2
SUCCESS_AGENTIC = {"nano": 0.39, "mini": 0.721}  # OSWorld, multi-step agentic
SUCCESS_SINGLE_TURN = {"nano": 0.5239, "mini": 0.544}  # SWE-Bench Pro, single-turn coding
PUBLISHED_MODEL_OF_ROLE = {Role.CHEAP: "nano", Role.MID: "mini"}  # the roles the analysis publishes rates for


def published_success_rate(role: Role | None, label: str) -> float | None:
    """The published success rate of the model a role is named after (cheap: gpt-5.4-nano, mid: gpt-5.4-mini)
    on a class of work; None for a role the analysis publishes none for (self-hosted, full)."""
    model = PUBLISHED_MODEL_OF_ROLE.get(role) if role is not None else None
    if model is None:
        return None
    return (SUCCESS_AGENTIC if label == "agentic" else SUCCESS_SINGLE_TURN)[model]


def blended_rate(nano_share: float) -> float:
    """Input $/1M when `nano_share` of traffic goes to nano and the rest to mini."""
    return nano_share * NANO_INPUT + (1 - nano_share) * MINI_INPUT


def with_overhead(rate: float, overhead: float = OVERHEAD_MID) -> float:
    return rate * (1 + overhead)


def savings_vs_mini(rate: float) -> float:
    """1 − rate ÷ mini-only rate (positive: cheaper than sending everything to mini)."""
    return 1 - rate / MINI_INPUT


# Above this overhead even traffic sent wholly to nano costs more than mini-only (0.20 × (1 + o) > 0.75):
# dual tier never pays and the break-even share does not exist. At 0 it is 100%: the share lives in [0, 1]
# exactly for overheads in [0, 2.75].
BREAK_EVEN_MAX_OVERHEAD = MINI_INPUT / NANO_INPUT - 1


def break_even_agentic_share(overhead: float = OVERHEAD_MID) -> float | None:
    """The agentic share above which dual-tier costs more than mini-only: (0.75/(1+o) − 0.20) / (0.75 − 0.20).

    None above `BREAK_EVEN_MAX_OVERHEAD` (the formula would give a negative share: there is none, dual tier
    costs more at every share). A negative overhead is no routing overhead at all and is refused.
    """
    if overhead < 0:
        raise ValueError(f"a routing overhead is at least 0, not {overhead}")
    if round(overhead, SHARE_DIGITS) > round(BREAK_EVEN_MAX_OVERHEAD, SHARE_DIGITS):
        return None
    return max(0.0, (MINI_INPUT / (1 + overhead) - NANO_INPUT) / (MINI_INPUT - NANO_INPUT))


def success_corrected(rate: float, success: float) -> float:
    """Effective price per completed task: price ÷ success rate."""
    return rate / success


def quarters_to_cross(start_share: float, per_quarter: float, threshold: float) -> int:
    """Whole quarters until a share growing linearly reaches `threshold`."""
    if per_quarter <= 0:
        raise ValueError("the share must grow to cross a threshold")
    quarters = 0
    while round(start_share + quarters * per_quarter, SHARE_DIGITS) < round(threshold, SHARE_DIGITS):
        quarters += 1
    return quarters


SHARE_DIGITS = 9  # shares are compared at this precision: 1 - 0.8 is 0.19999999999999996 in floating point


def verdict_for_share(agentic_share: float) -> str:
    """The analysis's verdict table (its thresholds are exact: a share of 1 - 0.8 is 20%, not just below it)."""
    agentic_share = round(agentic_share, SHARE_DIGITS)
    if agentic_share < 0.20:
        return "nano (dual tier saves more than half)"
    if agentic_share <= 0.60:
        return "mini"
    return "mini or a self-hosted open model"


@dataclass(frozen=True)
class CostOfInaction:
    calls_per_month: int
    nano_monthly_usd: float
    mini_monthly_usd: float
    nano_yearly_usd: float
    mini_yearly_usd: float
    yearly_difference_usd: float
    degraded_per_month_at_60pct: float
    degraded_per_year_at_60pct: float
    break_even_fix_cost_usd: float  # fixing one degraded output costs more than this: nano loses


def cost_of_inaction(
    calls_per_month: int = 10_000_000, input_tokens: int = 1000, output_tokens: int = 1000, agentic_share: float = 0.60
) -> CostOfInaction:
    per_call_nano = (input_tokens * NANO_INPUT + output_tokens * NANO_OUTPUT) / 1e6
    per_call_mini = (input_tokens * MINI_INPUT + output_tokens * MINI_OUTPUT) / 1e6
    nano_month, mini_month = calls_per_month * per_call_nano, calls_per_month * per_call_mini
    gap = SUCCESS_AGENTIC["mini"] - SUCCESS_AGENTIC["nano"]
    degraded_month = calls_per_month * agentic_share * gap
    degraded_year = degraded_month * 12
    difference = (mini_month - nano_month) * 12
    return CostOfInaction(
        calls_per_month=calls_per_month,
        nano_monthly_usd=nano_month,
        mini_monthly_usd=mini_month,
        nano_yearly_usd=nano_month * 12,
        mini_yearly_usd=mini_month * 12,
        yearly_difference_usd=difference,
        degraded_per_month_at_60pct=degraded_month,
        degraded_per_year_at_60pct=degraded_year,
        break_even_fix_cost_usd=difference / degraded_year if degraded_year else float("inf"),
    )


def evaluate(
    nano_share: float = 0.8, overhead: float = OVERHEAD_MID, calls_per_month: int = 10_000_000
) -> dict[str, Any]:
    """Everything the published model says, for one traffic mix."""
    nano_share = round(nano_share, SHARE_DIGITS)
    blended = blended_rate(nano_share)
    loaded = with_overhead(blended, overhead)
    break_even = break_even_agentic_share(overhead)
    nano_eff = success_corrected(NANO_INPUT, SUCCESS_AGENTIC["nano"])
    mini_eff = success_corrected(MINI_INPUT, SUCCESS_AGENTIC["mini"])
    return {
        "nano_share": nano_share,
        "agentic_share": round(1 - nano_share, SHARE_DIGITS),
        "overhead": overhead,
        "blended_rate": blended,
        "rate_with_overhead": loaded,
        "mini_only_rate": MINI_INPUT,
        "savings_vs_mini": savings_vs_mini(loaded),
        "savings_vs_mini_before_overhead": savings_vs_mini(blended),
        "dual_tier_pays": loaded < MINI_INPUT,
        "break_even_agentic_share": break_even,  # None: no share, dual tier never pays at this overhead
        "break_even_max_overhead": BREAK_EVEN_MAX_OVERHEAD,
        "break_even_band": [break_even_agentic_share(OVERHEAD_HIGH), break_even_agentic_share(OVERHEAD_LOW)],
        "success_corrected": {
            "nano": nano_eff,
            "mini": mini_eff,
            "headline_ratio": MINI_INPUT / NANO_INPUT,
            "corrected_ratio": mini_eff / nano_eff,
        },
        "quarters_to_break_even_from_20pct_at_10pts": (
            None if break_even is None else quarters_to_cross(0.20, 0.10, break_even)
        ),
        "cost_of_inaction": asdict(cost_of_inaction(calls_per_month)),
        "verdict": verdict_for_share(1 - nano_share),
        "assumptions": assumptions(),
    }


def assumptions() -> dict[str, Any]:
    """Every input the model uses, and where the source analysis disagrees with itself (`routetax model`)."""
    return {
        "prices_usd_per_1m": {
            "nano": {"input": NANO_INPUT, "output": NANO_OUTPUT},
            "mini": {"input": MINI_INPUT, "output": MINI_OUTPUT},
        },
        "success_rate": {
            "agentic (OSWorld)": dict(SUCCESS_AGENTIC),
            "single_turn (SWE-Bench Pro)": dict(SUCCESS_SINGLE_TURN),
        },
        "routing_overhead_band": [OVERHEAD_LOW, OVERHEAD_HIGH],
        "calculator": "input prices only, one overhead applied to all traffic; single-turn to nano, agentic to mini",
        "cost_of_inaction_per_call": "1,000 input + 1,000 output tokens",
        "trajectory": "agentic share growing 10 points a quarter from 20%",
        "inconsistencies": [
            "nano's output price ($1.25/1M) is never stated: it is implied by the $174,000/year figure",
            "the verdict table says 'mini' from 20% agentic share while the calculator's break-even is about 80%: "
            "the table folds in the success-rate correction and remediation, the calculator does not; "
            "`verdict` here is the table's, `break_even_agentic_share` the calculator's",
            "'two cents is roughly one nano call': one nano call at 1,000 + 1,000 tokens is $0.00145, so two cents "
            "is about 14 calls",
            "the calculator called `monthly_cost` yields a blended $/1M input rate, not a monthly cost",
        ],
    }
