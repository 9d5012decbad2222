"""What the audit fills in for requests the logs carry no usage for, and where each figure comes from.

A request body without its answer (bodies-only logs, a Batch input whose output expired, a LiteLLM row without
usage) has a prompt the tokenizer can count but no completion and no cache hit to read. Both are estimated from
the logs' own measured requests when there are any — the same class and model first, then the same class — and
otherwise from stated defaults; every estimate says which, and on how many measured requests it rests (`n`).

The default completion lengths are measured, not assumed: the mean completion tokens (o200k_base) of real
answers in issue 30's real-derived logs — tau-bench's gpt-4o airline trajectories, BFCL multi-turn and live
function calling, GSM8K, MMLU and MT-bench — were 151 for a single-turn request and 46 for an agentic step (an
agent's step is mostly a tool call; the old default, 1,000 for every request, put costs 586-759% too high on
those logs). They are one corpus's means, so the sensitivity table (metering/tax/audit_sensitivity.py) shows the
answer at half and twice the completion tokens. The default cache share is 0: a cache hit cannot be seen
without the answer's usage, and OpenAI never caches a prompt under 1,024 tokens; the sensitivity table shows the
answer at 90% too. `--output-tokens N` replaces both completion defaults with N.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from metering.audit.scan import AGENTIC, SINGLE_TURN, Tally

DEFAULT_COMPLETION_TOKENS = {SINGLE_TURN: 151, AGENTIC: 46}
DEFAULT_COMPLETION_BASIS = "real answers' means, tau-bench airline, BFCL, GSM8K, MMLU, MT-bench (issue 30)"
DEFAULT_CACHED_SHARE = 0.0
DEFAULT_CACHED_BASIS = "no cache hit can be seen without usage; OpenAI caches no prompt under 1,024 tokens"
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}$")  # a request names gpt-4o; its answer, gpt-4o-2024-08-06


def model_family(model: str) -> str:
    """The model a request asked for and the snapshot that answered it, as one: no provider prefix, no date."""
    return _SNAPSHOT.sub("", model.rsplit("/", 1)[-1])


class Source(StrEnum):
    MEASURED = "measured"  # from the logs' own requests with usage
    DEFAULT = "default"  # a stated default (or --output-tokens)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimated figure: its value, where it comes from, and how many measured requests it rests on."""

    value: float
    source: Source
    n: int
    basis: str

    def json(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source.value, "n": self.n, "basis": self.basis}


def _class_default(label: str, given: int | None) -> Estimate:
    if given is not None:
        return Estimate(float(given), Source.DEFAULT, 0, "--output-tokens")
    return Estimate(float(DEFAULT_COMPLETION_TOKENS[label]), Source.DEFAULT, 0, DEFAULT_COMPLETION_BASIS)


def answers_by_model(tally: Tally, label: str) -> dict[str, list[int]]:
    """Per model of a class: [requests with logged usage, their completion tokens, requests estimated], summed
    from the tally's (model, team, key) × class × mode cells (metering/audit/groups.py)."""
    families: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (model, _team, _key, (lab, _mode)), bucket in tally.groups.cells.items():
        if lab == label:
            family = families[model_family(model or "(none)")]
            family[0] += bucket.logged
            family[1] += bucket.completion
            family[2] += bucket.estimated
    return families


def completion_estimate(tally: Tally, label: str, given: int | None) -> tuple[Estimate, dict[str, Estimate]]:
    """Completion tokens per estimated request of a class (the mean over its estimated requests of each one's
    estimate), and per model: the model's measured mean in this class, else the class's, else the default."""
    measured = list(answers_by_model(tally, label).items())
    logged = sum(m[0] for _, m in measured)
    completion = sum(m[1] for _, m in measured)
    of_class = (
        Estimate(completion / logged, Source.MEASURED, logged, f"mean of this class's {logged:,} logged answers")
        if logged
        else _class_default(label, given)
    )
    per_model: dict[str, Estimate] = {}
    total = weight = 0.0
    for model, (n, tokens, estimated) in measured:
        if not estimated:
            continue
        estimate = (
            Estimate(tokens / n, Source.MEASURED, n, f"mean of {model}'s {n:,} logged answers in this class")
            if n
            else of_class
        )
        per_model[model] = estimate
        total += estimated * estimate.value
        weight += estimated
    if not weight:
        return of_class, per_model
    sources = {e.source for e in per_model.values()}
    source = Source.MEASURED if sources == {Source.MEASURED} else of_class.source
    # the measured answers it rests on: each model's own, or the class's for a model with none (counted once)
    own = sum(e.n for e in per_model.values() if e is not of_class and e.source is Source.MEASURED)
    n = of_class.n if any(e is of_class for e in per_model.values()) else own
    n = min(logged, max(n, own)) if logged else 0
    bases = {e.basis for e in per_model.values()}
    basis = bases.pop() if len(bases) == 1 else "per model, as listed"
    return Estimate(total / weight, source, n, basis), per_model


def cached_share_estimate(tally: Tally, label: str) -> Estimate:
    """The cached share of an estimated request's prompt: its class's reported share, else the default."""
    known = tally.cached_known[label]
    if known:
        return Estimate(
            tally.cached_of_known[label] / known,
            Source.MEASURED,
            sum(b.logged for (lab, _), b in tally.buckets.items() if lab == label),
            "this class's prompt tokens whose usage reported cached tokens",
        )
    return Estimate(DEFAULT_CACHED_SHARE, Source.DEFAULT, 0, DEFAULT_CACHED_BASIS)


def estimates_json(tally: Tally, given: int | None) -> dict[str, Any]:
    """The `estimates` key: per class, the completion tokens and cached share filled in for requests without usage."""
    completion: dict[str, Any] = {}
    cached: dict[str, Any] = {}
    estimated = 0
    for label in (SINGLE_TURN, AGENTIC):
        requests = sum(b.estimated for (lab, _), b in tally.buckets.items() if lab == label)
        estimated += requests
        value, per_model = completion_estimate(tally, label, given)
        completion[label] = {
            **value.json(),
            "estimated_requests": requests,
            "by_model": {model: e.json() for model, e in sorted(per_model.items())},
        }
        cached[label] = {**cached_share_estimate(tally, label).json(), "estimated_requests": requests}
    shares = [c for c in cached.values() if c["estimated_requests"]]
    overall = shares[0] if len(shares) == 1 else None
    if len(shares) > 1:
        weight = sum(c["estimated_requests"] for c in shares)
        measured = all(c["source"] == Source.MEASURED for c in shares)
        overall = {
            "value": sum(c["value"] * c["estimated_requests"] for c in shares) / weight,
            "source": Source.MEASURED.value if measured else Source.DEFAULT.value,
        }
    return {
        "estimated_requests": estimated,
        "completion_tokens": completion,
        "cached_share": {
            "value": overall["value"] if overall else None,
            "source": overall["source"] if overall else None,
            "by_class": cached,
        },
    }


def estimates_text(estimates: dict[str, Any]) -> str | None:
    """One line saying what was estimated and from what, or None when every request had usage."""
    if not estimates["estimated_requests"]:
        return None
    parts = []
    for label, e in estimates["completion_tokens"].items():
        if not e["estimated_requests"]:
            continue
        origin = f"measured on {e['n']:,} logged" if e["source"] == Source.MEASURED else "default"
        cached = estimates["cached_share"]["by_class"][label]
        cache = (
            f"cache {cached['value']:.0%} measured"
            if cached["source"] == Source.MEASURED
            else f"cache {cached['value']:.0%} default"
        )
        parts.append(f"{label} {e['value']:,.0f} completion tokens/request, {origin}; {cache}")
    defaults = {e["basis"] for e in estimates["completion_tokens"].values() if e["source"] == Source.DEFAULT}
    why = f" (defaults: {'; '.join(sorted(defaults))})" if defaults else ""
    return f"{estimates['estimated_requests']:,} requests without usage, estimated: " + "; ".join(parts) + why
