"""`routetax model`: the published routing-tax model, evaluated for a traffic mix, with every figure it derives."""

from __future__ import annotations

import argparse
import sys

import orjson

from cli.command import Subparsers
from metering.tax.model import OVERHEAD_MID, evaluate


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _overhead(text: str) -> float:
    value = float(text)
    if not 0 <= value < 5:
        raise argparse.ArgumentTypeError("must be between 0 and 5 (0.175 = 17.5%)")
    return value


def _calls(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _versus_mini(savings: float) -> str:
    """A saving as a user reads it: "59% below mini", and a negative one as "148% above mini"."""
    return f"{savings:.0%} below mini" if savings >= 0 else f"{-savings:.0%} above mini"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "model",
        help="evaluate the published routing-tax model: every figure, rate and assumption",
        description="Evaluate the published routing-tax model: every figure, its rates and its assumptions.",
    )
    parser.add_argument("--nano-share", type=_share, default=0.8, help="share of traffic sent to nano (default 0.8)")
    parser.add_argument("--overhead", type=_overhead, default=OVERHEAD_MID, help="routing overhead (default 0.175)")
    parser.add_argument("--calls-per-month", type=_calls, default=10_000_000)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = evaluate(args.nano_share, args.overhead, args.calls_per_month)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    corrected = result["success_corrected"]
    inaction = result["cost_of_inaction"]
    low, high = result["break_even_band"]
    given = result["assumptions"]
    prices, rates = given["prices_usd_per_1m"], given["success_rate"]
    print(f"traffic: {result['nano_share']:.0%} nano (single-turn), {result['agentic_share']:.0%} mini (agentic)")
    print(
        f"rates used              nano ${prices['nano']['input']:.2f} in / ${prices['nano']['output']:.2f} out, "
        f"mini ${prices['mini']['input']:.2f} / ${prices['mini']['output']:.2f} per 1M tokens; success "
        + "; ".join(f"{name}: nano {r['nano']}, mini {r['mini']}" for name, r in rates.items())
    )
    print(
        f"blended input rate      ${result['blended_rate']:.3f}/1M  "
        f"({_versus_mini(result['savings_vs_mini_before_overhead'])} before overhead)"
    )
    print(
        f"with {args.overhead:.1%} overhead    ${result['rate_with_overhead']:.3f}/1M  "
        f"({_versus_mini(result['savings_vs_mini'])}'s $0.75)"
    )
    break_even = result["break_even_agentic_share"]
    band = f"(band {low:.3f}–{high:.3f} for overhead 0.20–0.15)"
    if break_even is None:
        print(
            f"break-even agentic share none: above {result['break_even_max_overhead']:.2f} overhead dual tier costs "
            f"more than mini-only at every share, even all on nano  {band}"
        )
    else:
        print(f"break-even agentic share {break_even:.3f}  {band}")
    print(
        f"success-corrected       nano ${corrected['nano']:.3f}, mini ${corrected['mini']:.3f} per 1M "
        f"→ ratio {corrected['corrected_ratio']:.2f}x (headline {corrected['headline_ratio']:.2f}x)"
    )
    if break_even is None:
        print("trajectory              never crosses a break-even: dual tier does not pay at this overhead")
    elif result["quarters_to_break_even_from_20pct_at_10pts"] == 0:
        print(f"trajectory              20% is already above the break-even {break_even:.3f}")
    else:
        print(
            f"trajectory              +10 pts/quarter from 20% crosses the break-even {break_even:.3f} after "
            f"{result['quarters_to_break_even_from_20pct_at_10pts']} quarters"
        )
    print(
        f"cost of inaction        {inaction['calls_per_month']:,} calls/month at 1,000 in + 1,000 out: "
        f"nano ${inaction['nano_yearly_usd']:,.0f}/yr, mini ${inaction['mini_yearly_usd']:,.0f}/yr, "
        f"difference ${inaction['yearly_difference_usd']:,.0f}/yr"
    )
    print(
        f"                        at 60% agentic ≈ {inaction['degraded_per_year_at_60pct'] / 1e6:.1f}M degraded "
        f"outputs/yr → nano loses if fixing one costs more than ${inaction['break_even_fix_cost_usd']:.3f}"
    )
    print(f"verdict (the table)     {result['verdict']}")
    print(f"calculator              {given['calculator']}")
    print("where the source disagrees with itself:")
    for note in given["inconsistencies"]:
        print(f"  - {note}")
    return 0
