"""Writes `classifier/calibration.py`: each rule's confidence is what it earns on styles it was not written for.

Run `python -m classifier.calibrate` after changing a rule or a development corpus. A rule's evidence
is counted in *styles*, not requests: a framework for captured rows (`framework`), the source for
written ones (`source`, e.g. `shaped/tag_agent`), because what the classifier meets next is a style it
has not seen, and 200 requests of one framework say little about the next framework. A rule that fired
in `G` styles with accuracy `a_1 … a_G` in each gets `(a_1 + … + a_G + A * prior) / (G + A)`: the mean
over styles, pulled toward a prior (0.99 for the request's own structure, 0.85 for text) while few
styles back it. The strength `A` is fitted leave-one-framework-out (`classifier.lofo`): the most
cautious value whose out-of-style calibration error stays within `ECE_TARGET`, because styles never
seen fail more often than the development corpora can show. The held-out captures are not read here.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from classifier.core import classify_with_rule
from classifier.evaluate import DATA_DIR, load

DEVELOPMENT = ("routetax-corpus.jsonl", "framework-captures.jsonl", "framework-shaped.jsonl")
OUT = Path(__file__).with_name("calibration.py")
STRENGTHS = (0.5, 1, 2, 3, 4, 6, 8, 12, 16)  # prior strength in styles, tried from the most trusting up
ECE_TARGET = 0.05
STRUCTURAL_PRIOR, TEXT_PRIOR = 0.99, 0.85
STRUCTURAL = {"tool_history", "tools_declared", "builtin_tools", "forced_function", "forced_step", "tool_choice_none"}
# schema_tools reads names and words, so it takes the text prior; these read the request's shape
STRUCTURAL |= {"multi_agent_chat", "schema_action_step"}
UNPARSEABLE = 0.55  # never measured (no corpus row is unparseable); below the default min_confidence on purpose
FIXED = ("header_override", "unparseable")

# rule -> style -> (requests, right)
Counts = dict[str, dict[str, tuple[int, int]]]


def style_of(row: dict[str, Any]) -> str:
    """The style a row stands for: its framework when captured, else its source."""
    framework = row.get("framework")
    return framework if isinstance(framework, str) and framework else str(row.get("source", ""))


def decide(rows: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], str, str]]:
    """(row, predicted label, rule) for each row."""
    out = []
    for row in rows:
        decision, rule = classify_with_rule(row["request"], api=row["api"])
        out.append((row, decision.label, rule))
    return out


def count(decided: Iterable[tuple[dict[str, Any], str, str]]) -> Counts:
    cells: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row, label, rule in decided:
        cell = cells[rule][style_of(row)]
        cell[0] += 1
        cell[1] += label == row["label"]
    return {rule: {style: (n, k) for style, (n, k) in sorted(by.items())} for rule, by in sorted(cells.items())}


def prior(rule: str) -> float:
    return STRUCTURAL_PRIOR if rule in STRUCTURAL else TEXT_PRIOR


def confidence(rule: str, styles: dict[str, tuple[int, int]], strength: float) -> float:
    """The rule's expected accuracy on a style it has not seen: its per-style accuracies, shrunk to the prior."""
    total = sum(k / n for n, k in styles.values())
    return round((total + strength * prior(rule)) / (len(styles) + strength), 3)


def fit(counts: Counts, strength: float) -> dict[str, float]:
    return {rule: confidence(rule, styles, strength) for rule, styles in counts.items() if rule not in FIXED}


def development_rows(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    return load(paths or [DATA_DIR / name for name in DEVELOPMENT])


def choose_strength(decided: list[tuple[dict[str, Any], str, str]]) -> float:
    """The most cautious prior strength whose leave-one-framework-out ECE stays within the target.

    When none does (the rules fail on some style), the one with the smallest ECE: then the
    confidences are as true as this form can make them, and the miss shows in `eval-classifier`.
    """
    from classifier.lofo import leave_one_style_out

    eces = {strength: leave_one_style_out(decided, strength)["ece"] for strength in STRENGTHS}
    within = [strength for strength, ece in eces.items() if ece <= ECE_TARGET]
    return max(within) if within else min(eces, key=lambda strength: eces[strength])


def render(counts: Counts, strength: float, sources: list[str]) -> str:
    lines = [
        '"""Each rule\'s confidence: what it earns on styles it has not seen. Generated; do not edit.',
        "",
        "Regenerate with `python -m classifier.calibrate`. Measured on:",
        *(f"- {source}" for source in sources),
        '"""',
        "",
        f"PRIOR_STRENGTH = {strength:g}  # styles' worth of prior evidence, fitted leave-one-framework-out",
        "DEFAULT_CONFIDENCE = 0.85  # a rule never measured",
        "CONFIDENCE: dict[str, float] = {",
        '    "header_override": 1.0,  # the client said so',
        f'    "unparseable": {UNPARSEABLE},  # not measured: below the default policy.min_confidence on purpose',
    ]
    for rule, value in fit(counts, strength).items():
        styles = counts[rule]
        n, k = sum(c[0] for c in styles.values()), sum(c[1] for c in styles.values())
        lines.append(f'    "{rule}": {value},  # right {k} of {n} in {len(styles)} styles')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, help="development corpus (default: the shipped ones)")
    args = parser.parse_args(argv)
    paths = args.corpus or [DATA_DIR / name for name in DEVELOPMENT]
    decided = decide(development_rows(paths))
    counts = count(decided)
    strength = choose_strength(decided)
    OUT.write_text(render(counts, strength, [p.name for p in paths]), encoding="utf-8")
    print(f"prior strength {strength:g} styles")
    for rule, value in fit(counts, strength).items():
        styles = counts[rule]
        n, k = sum(c[0] for c in styles.values()), sum(c[1] for c in styles.values())
        print(f"{rule:<40} styles={len(styles):<4} n={n:<5} right={k:<5} confidence={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
