"""`routetax price`: the exact cost of one request, with every modifier, from the price map."""

from __future__ import annotations

import argparse
import sys

import orjson

from metering.cost import ImpossibleUsage, cost
from metering.prices import Price, UnknownModel, price_for
from metering.record import Usage


def _impossible(price: Price, args: argparse.Namespace) -> str | None:
    """Why this request could not be made (or priced) at all, or None.

    A request above the model's input or output limit is refused by the upstream, so it has no
    price; nor has a mode the map does not price for the model (nano has no priority rate) or a
    Batch request with a service tier (the Batch API has none).
    """
    if price.max_input_tokens is not None and args.prompt > price.max_input_tokens:
        return f"{args.prompt:,} prompt tokens exceed {price.model}'s input limit of {price.max_input_tokens:,}"
    if price.max_output_tokens is not None and args.completion > price.max_output_tokens:
        return (
            f"{args.completion:,} completion tokens exceed {price.model}'s output limit of {price.max_output_tokens:,}"
        )
    if args.batch and args.service_tier != "default":
        return f"the Batch API has no service tier: --batch with --service-tier {args.service_tier} is not priced"
    mode = "batches" if args.batch else args.service_tier
    if mode != "default" and not price.self_hosted and mode not in price.variants:
        return f"the price map has no {mode} price for {price.model}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routetax price", description="Price one request (cost-model.md §1).")
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", type=int, required=True, help="prompt (input) tokens, cached included")
    parser.add_argument("--completion", type=int, required=True, help="completion (output) tokens, reasoning included")
    parser.add_argument("--cached", type=int, default=0, help="cached prompt tokens (a subset of --prompt)")
    parser.add_argument("--reasoning", type=int, default=0, help="reasoning tokens (a subset of --completion)")
    parser.add_argument("--batch", action="store_true", help="Batch API (50%% off)")
    parser.add_argument(
        "--service-tier",
        choices=["default", "flex", "priority"],
        default="default",
        help="the service tier the upstream reported",
    )
    parser.add_argument("--region", choices=["us", "eu"], default=None, help="regional processing (+10%%)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    usage = Usage(args.prompt, args.cached, args.completion, args.reasoning)
    try:
        price = price_for(args.model)
        problem = _impossible(price, args)
        if problem is not None:
            print(f"routetax price: {problem}", file=sys.stderr)
            return 2
        breakdown = cost(usage, price, batch=args.batch, service_tier=args.service_tier, region=args.region)
    except UnknownModel:
        print(f"routetax price: unknown model {args.model!r} (not in the price map, and not a tier)", file=sys.stderr)
        return 2
    except ImpossibleUsage as exc:
        print(f"routetax price: impossible usage: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "model": args.model,
            **breakdown.to_dict(),
            "usage": {
                "prompt": args.prompt,
                "cached": args.cached,
                "completion": args.completion,
                "reasoning": args.reasoning,
            },
        }
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return 0
    print(
        f"{args.model}: {args.prompt:,} prompt ({args.cached:,} cached), {args.completion:,} completion "
        f"({args.reasoning:,} reasoning)"
    )
    print(f"  input     ${breakdown.input_usd:.8f}")
    print(f"  cached    ${breakdown.cached_usd:.8f}")
    print(f"  output    ${breakdown.output_usd:.8f}")
    print(f"  total     ${breakdown.total_usd:.8f}")
    print(f"  modifiers {', '.join(breakdown.modifiers) or 'none'}")
    return 0
