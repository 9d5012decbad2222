"""`routetax price`: the exact cost of one request, with every modifier, from the price map.

`--model` takes a model or a tier name: a tier (of the configuration, or the defaults) stands for its
model, which is why this command, not `metering`, reads routetax's configuration. It prices through the
same `metering.cost.cost` the proxy bills with: a request that cannot exist exits 2; one the upstream can
serve but no published rate covers is priced as the proxy prices it, and says it is an estimate.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from cli.command import Subparsers, load_config_or_say
from metering.cost import ImpossibleUsage, cost, unpriced_reason
from metering.prices import UnknownModel, price_for
from metering.record import PriceEstimate, Usage

# What `routetax price` says under a price that is an estimate (the proxy marks the attempt the same way).
ESTIMATES = {
    PriceEstimate.LONG_CONTEXT_UNDER_PRIORITY: "the price rules define the long-context rates for standard, Batch "
    "and flex only: priority's multiplier applied to them (the dearer reading), as the proxy bills it",
    PriceEstimate.MODE_NOT_PUBLISHED: "the price map publishes no rate for this mode of this model: the general "
    "multiplier applied to its standard rates (Batch and flex half, priority double), as the proxy bills it",
}


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "price",
        help="price one request exactly, with every modifier (cached, Batch, flex, priority, region)",
        description="Price one request from the price map, with every modifier.",
    )
    parser.add_argument("--config", help="YAML configuration naming the tiers (default: $ROUTETAX_CONFIG)")
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_or_say(args.config, "routetax price")
    if config is None:
        return 2
    model = config.tiers[args.model].model if args.model in config.tiers else args.model
    usage = Usage(args.prompt, args.cached, args.completion, args.reasoning)
    try:
        price = price_for(model)
        problem = unpriced_reason(price, usage, batch=args.batch, service_tier=args.service_tier)
        if problem is not None:
            print(f"routetax price: {problem}", file=sys.stderr)
            return 2
        breakdown = cost(usage, price, batch=args.batch, service_tier=args.service_tier, region=args.region)
    except UnknownModel:
        print(f"routetax price: unknown model {model!r} (not in the price map, and not a tier)", file=sys.stderr)
        return 2
    except ImpossibleUsage as exc:
        print(f"routetax price: impossible usage: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "model": model,
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
        f"{model}: {args.prompt:,} prompt ({args.cached:,} cached), {args.completion:,} completion "
        f"({args.reasoning:,} reasoning)"
    )
    print(f"  input     ${breakdown.input_usd:.8f}")
    print(f"  cached    ${breakdown.cached_usd:.8f}")
    print(f"  output    ${breakdown.output_usd:.8f}")
    print(f"  total     ${breakdown.total_usd:.8f}")
    print(f"  modifiers {', '.join(breakdown.modifiers) or 'none'}")
    if breakdown.estimate is not None:
        print(f"  estimated {ESTIMATES[breakdown.estimate]}")
    return 0
