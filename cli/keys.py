"""`routetax keys create|list|revoke`: manage client keys in the configured store."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import asdict
from typing import Any

import orjson

from cli.command import Subparsers, load_config_or_say
from metering.store import open_store
from router.keys import KeyStore


def _team(value: str) -> str:
    """Team names become a Prometheus label value and an Alertmanager matcher: keep them plain."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        raise argparse.ArgumentTypeError(
            "a team is 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be a positive number of tokens")
    return number


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "keys", help="manage virtual API keys (create, list, revoke)", description="Manage routetax virtual API keys."
    )
    parser.add_argument("--config", help="YAML configuration naming the store (default: $ROUTETAX_CONFIG)")
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create a key (printed once; stored only as a hash)")
    create.add_argument("--name", required=True)
    create.add_argument("--budget-usd", type=float)
    create.add_argument("--period", choices=["day", "month"], default="month")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--tiers", help="comma-separated tiers this key may use (default: all)")
    create.add_argument(
        "--max-output-tokens",
        type=_positive,
        help="the output cap of its requests that set none (default: the model's output limit, reserved in full)",
    )
    create.add_argument(
        "--team", type=_team, help="the team that owns the key (a label on its spend metrics, for alert routing)"
    )
    create.add_argument("--json", action="store_true")
    listing = sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true")
    revoke = sub.add_parser("revoke", help="revoke a key by id (every replica refuses it within seconds)")
    revoke.add_argument("id")
    for command in (create, listing, revoke):
        command.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


async def _run(args: argparse.Namespace, redis_url: str, cluster: bool, tiers: list[str]) -> int:
    store = open_store(redis_url, cluster=cluster)
    keys = KeyStore(store)
    try:
        if args.keys_command == "create":
            limits: dict[str, Any] = {
                "budget_usd": args.budget_usd,
                "period": args.period,
                "rpm": args.rpm,
                "tpm": args.tpm,
                "team": args.team,
                "max_output_tokens": args.max_output_tokens,
            }
            if args.tiers:
                chosen = [t.strip() for t in args.tiers.split(",") if t.strip()]
                unknown = [t for t in chosen if t not in tiers]
                if unknown:
                    print(
                        f"routetax keys: unknown tier(s) {', '.join(unknown)} (configured: {', '.join(tiers)})",
                        file=sys.stderr,
                    )
                    return 2
                limits["tiers"] = chosen
            key, secret = await keys.create(args.name, **limits)
            if args.json:
                print(orjson.dumps({"id": key.id, "key": secret, "name": key.name, "team": key.team}).decode())
            else:
                owner = f", team {key.team}" if key.team else ""
                print(
                    f"created {key.id} ({key.name}{owner})\nkey: {secret}\n(shown once: routetax keeps only its hash)"
                )
        elif args.keys_command == "list":
            listed = [{k: v for k, v in asdict(key).items() if k != "key_hash"} for key in await keys.list()]
            if args.json:
                print(orjson.dumps(listed).decode())
            else:
                for item in listed:
                    state = "revoked" if item["revoked"] else "active"
                    budget = f"${item['budget_usd']:g}/{item['period']}" if item["budget_usd"] is not None else "-"
                    print(
                        f"{item['id']}  {item['name']:<20} team {item.get('team') or '-':<12} {state:<8}"
                        f" budget {budget:<14} rpm {item['rpm'] or '-'}"
                        f"  tpm {item['tpm'] or '-'}  tiers {','.join(item['tiers'] or ['all'])}"
                    )
        else:
            if not await keys.revoke(args.id):
                print(f"routetax keys: no key with id {args.id}", file=sys.stderr)
                return 2
            print(f"revoked {args.id}")
        return 0
    finally:
        await store.aclose()


def run(args: argparse.Namespace) -> int:
    config = load_config_or_say(args.config, "routetax keys")
    if config is None:
        return 2
    if config.store.redis_url is None:
        print("routetax keys: keys live in the store: configure store.redis_url", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, config.store.redis_url, config.store.cluster, list(config.tiers)))
    except (OSError, ConnectionError) as exc:
        print(f"routetax keys: cannot reach the store: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # redis-py's errors are many; all mean the same here
        print(f"routetax keys: cannot reach the store: {exc}", file=sys.stderr)
        return 1
