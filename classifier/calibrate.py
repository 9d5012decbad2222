"""Writes `classifier/calibration.py`: each rule's confidence is its measured accuracy on the development corpora.

Run `python -m classifier.calibrate` after changing a rule or a development corpus. A rule seen
`n` times and right `k` times gets `(k + A * prior) / (n + A)`: its accuracy, pulled toward a
prior (0.99 for the request's own structure, 0.85 for text) while it has been seen only a few
times, so that a rule right on its 3 examples does not claim 1.0. The held-out captures are not
read here: they are where `routetax eval-classifier` measures whether these values hold (ECE).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from classifier.core import classify_with_rule
from classifier.evaluate import DATA_DIR, load

DEVELOPMENT = ("routetax-corpus.jsonl", "framework-captures.jsonl", "framework-shaped.jsonl")
OUT = Path(__file__).with_name("calibration.py")
STRENGTH = 20  # pseudo-observations of the prior
STRUCTURAL_PRIOR, TEXT_PRIOR = 0.99, 0.85
STRUCTURAL = {"tool_history", "tools_declared", "builtin_tools", "forced_function", "forced_step", "tool_choice_none"}
UNPARSEABLE = 0.55  # never measured (no corpus row is unparseable); below the default min_confidence on purpose


def measure(paths: list[Path]) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in load(paths):
        decision, rule = classify_with_rule(row["request"], api=row["api"])
        counts[rule][0] += 1
        counts[rule][1] += decision.label == row["label"]
    return {rule: (n, k) for rule, (n, k) in sorted(counts.items())}


def confidence(rule: str, n: int, k: int) -> float:
    prior = STRUCTURAL_PRIOR if rule in STRUCTURAL or rule == "multi_agent_chat" else TEXT_PRIOR
    return round((k + STRENGTH * prior) / (n + STRENGTH), 3)


def render(counts: dict[str, tuple[int, int]], sources: list[str]) -> str:
    lines = [
        '"""Each rule\'s confidence: its measured accuracy on the development corpora. Generated; do not edit.',
        "",
        "Regenerate with `python -m classifier.calibrate`. Measured on:",
        *(f"- {source}" for source in sources),
        '"""',
        "",
        "DEFAULT_CONFIDENCE = 0.85  # a rule never measured",
        "CONFIDENCE: dict[str, float] = {",
        '    "header_override": 1.0,  # the client said so',
        f'    "unparseable": {UNPARSEABLE},  # not measured: below the default policy.min_confidence on purpose',
    ]
    for rule, (n, k) in counts.items():
        if rule in ("header_override", "unparseable"):
            continue
        lines.append(f'    "{rule}": {confidence(rule, n, k)},  # right {k} of {n}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, help="development corpus (default: the shipped ones)")
    args = parser.parse_args(argv)
    paths = args.corpus or [DATA_DIR / name for name in DEVELOPMENT]
    counts = measure(paths)
    OUT.write_text(render(counts, [p.name for p in paths]), encoding="utf-8")
    for rule, (n, k) in counts.items():
        print(f"{rule:<36} n={n:<5} right={k:<5} confidence={confidence(rule, n, k)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
