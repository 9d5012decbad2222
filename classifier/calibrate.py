"""Writes `classifier/calibration.py`: each rule's confidence is what it earns on styles it was not written for.

Run `python -m classifier.calibrate` after changing a rule or a development corpus. A rule's evidence
is counted in *styles*, not requests: a framework for captured rows (`framework`), the source for
written ones (`source`, e.g. `shaped/tag_agent`), because what the classifier meets next is a style it
has not seen, and 200 requests of one framework say little about the next framework. A rule that fired
in `G` styles with accuracy `a_1 … a_G` in each gets `(a_1 + … + a_G + A * prior) / (G + A)`: the mean
over styles, pulled toward its family's prior while few styles back it.

Three families (`Family`): the request's own structure (prior 0.99, not fitted: a tool message is a
tool message in any framework), text readings that found a protocol, and the single-turn decisions
made because nothing was read (`no_agentic_signal`, `structured_output`, `quoted_protocol`): where
an agent in a grammar the rules do not know lands, so they are fitted apart. The two text families'
priors and strengths are fitted leave-one-framework-out (`classifier.lofo`): of every fit whose
out-of-style calibration error is within `ECE_TARGET` pooled *and in every captured framework*, the
least confident one (the lowest mean confidence stated on the styles left out), because styles
never seen fail more often than the development corpora can show. The held-out captures are not
read here.
"""

from __future__ import annotations

import argparse
import enum
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from classifier.core import classify_with_rule
from classifier.evaluate import DATA_DIR, load

DEVELOPMENT = ("routetax-corpus.jsonl", "framework-captures.jsonl", "framework-shaped.jsonl")
OUT = Path(__file__).with_name("calibration.py")
# the fit's grid: a prior is a rule's expected accuracy on a style before any evidence (0.85, the text prior of
# the single-strength fit this one replaced, up to the structure's 0.99); a strength is how many styles' worth
# that prior counts, up to more styles than any rule has fired in
PRIORS = tuple(round(0.85 + 0.01 * step, 2) for step in range(15))
STRENGTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
ECE_TARGET = 0.05
STRUCTURAL_PRIOR = 0.99
STRUCTURAL = {"tool_history", "tools_declared", "builtin_tools", "forced_function", "forced_step", "tool_choice_none"}
# schema_tools reads names and words, so it is a text reading; these read the request's shape
STRUCTURAL |= {"multi_agent_chat", "schema_action_step"}
# single-turn because no rule read a loop (with or without agent words, or with protocol words read as content)
ABSENCE_REASONS = frozenset({"no_agentic_signal", "structured_output", "quoted_protocol"})
UNPARSEABLE = 0.55  # never measured (no corpus row is unparseable); below the default min_confidence on purpose
FIXED = ("header_override", "unparseable")

# rule -> style -> (requests, right)
Counts = dict[str, dict[str, tuple[int, int]]]


class Family(enum.Enum):
    """What a rule's decision rests on, which decides the prior it is pulled toward."""

    STRUCTURE = "structure"  # the request's own shape: tool messages, offered tools, signed turns
    READING = "reading"  # a protocol read in the text: a ReAct layout, an action grammar, a loop role
    ABSENCE = "absence"  # nothing read: single-turn by default


READING_SIDE = frozenset({Family.STRUCTURE, Family.READING})  # the families that take the reading strength


def family(rule: str) -> Family:
    if rule in STRUCTURAL:
        return Family.STRUCTURE
    if rule.partition(":")[0] in ABSENCE_REASONS:
        return Family.ABSENCE
    return Family.READING


@dataclass(frozen=True, slots=True)
class Fit:
    """The shrinkage's parameters: each text family's prior and strength (styles' worth of that prior).

    The structure family keeps its prior (0.99) and takes the reading strength.
    """

    reading_prior: float
    reading_strength: float
    absence_prior: float
    absence_strength: float

    def prior(self, family_: Family) -> float:
        if family_ is Family.STRUCTURE:
            return STRUCTURAL_PRIOR
        return self.absence_prior if family_ is Family.ABSENCE else self.reading_prior

    def strength(self, family_: Family) -> float:
        return self.absence_strength if family_ is Family.ABSENCE else self.reading_strength


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


def shrunk(rule: str, total: float, styles: int, fit: Fit) -> float:
    """Per-style accuracies summing to `total` over `styles` styles, pulled toward the rule's family prior."""
    family_ = family(rule)
    strength = fit.strength(family_)
    return (total + strength * fit.prior(family_)) / (styles + strength)


def confidence(rule: str, styles: dict[str, tuple[int, int]], fit: Fit) -> float:
    """The rule's expected accuracy on a style it has not seen: its per-style accuracies, shrunk to the prior."""
    return round(shrunk(rule, sum(k / n for n, k in styles.values()), len(styles), fit), 3)


def fit_confidences(counts: Counts, fit: Fit) -> dict[str, float]:
    return {rule: confidence(rule, styles, fit) for rule, styles in counts.items() if rule not in FIXED}


def development_rows(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    return load(paths or [DATA_DIR / name for name in DEVELOPMENT])


def choose_fit(decided: list[tuple[dict[str, Any], str, str]]) -> Fit:
    """The least confident fit whose leave-one-framework-out ECE is within the target, pooled and per framework.

    Least confident: of the fits that pass, the one stating the lowest mean confidence on the styles left
    out — as cautious as the out-of-style record allows. When none passes (a style defeats the rules), the
    one with the smallest worst-framework ECE: then the confidences are as true as this form can make them,
    and the miss shows in `eval-classifier`.
    """
    from classifier.lofo import Folds

    folds = Folds(decided)
    grid = list(itertools.product(PRIORS, STRENGTHS))
    # the mean stated confidence is a sum of the two sides' parts, so every fit is ordered without deciding it
    reading = {(p, a): folds.stated_sum(Fit(p, a, p, a), READING_SIDE) for p, a in grid}
    absence = {(p, a): folds.stated_sum(Fit(p, a, p, a), {Family.ABSENCE}) for p, a in grid}
    candidates = sorted(
        ((reading[r] + absence[b], Fit(r[0], r[1], b[0], b[1])) for r, b in itertools.product(grid, grid)),
        key=lambda pair: (pair[0], *astuple(pair[1])),
    )
    for _, fit in candidates:
        if folds.within(fit, ECE_TARGET):
            return fit
    return min((fit for _, fit in candidates), key=folds.worst)


def render(counts: Counts, fit: Fit, sources: list[str]) -> str:
    lines = [
        '"""Each rule\'s confidence: what it earns on styles it has not seen. Generated; do not edit.',
        "",
        "Regenerate with `python -m classifier.calibrate`. Measured on:",
        *(f"- {source}" for source in sources),
        '"""',
        "",
        "# the fit, chosen leave-one-framework-out: each family's prior and its strength in styles",
        f"READING_PRIOR, READING_STRENGTH = {fit.reading_prior:g}, {fit.reading_strength:g}",
        f"ABSENCE_PRIOR, ABSENCE_STRENGTH = {fit.absence_prior:g}, {fit.absence_strength:g}",
        "DEFAULT_CONFIDENCE = 0.85  # a rule never measured",
        "CONFIDENCE: dict[str, float] = {",
        '    "header_override": 1.0,  # the client said so',
        f'    "unparseable": {UNPARSEABLE},  # not measured: below the default policy.min_confidence on purpose',
    ]
    for rule, value in fit_confidences(counts, fit).items():
        styles = counts[rule]
        n, k = sum(c[0] for c in styles.values()), sum(c[1] for c in styles.values())
        lines.append(f'    "{rule}": {value},  # right {k} of {n} in {len(styles)} styles ({family(rule).value})')
    lines.append("}")
    return "\n".join(lines) + "\n"


def shipped_fit() -> Fit:
    from classifier import calibration

    return Fit(
        calibration.READING_PRIOR,
        calibration.READING_STRENGTH,
        calibration.ABSENCE_PRIOR,
        calibration.ABSENCE_STRENGTH,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, help="development corpus (default: the shipped ones)")
    args = parser.parse_args(argv)
    paths = args.corpus or [DATA_DIR / name for name in DEVELOPMENT]
    decided = decide(development_rows(paths))
    counts = count(decided)
    fit = choose_fit(decided)
    OUT.write_text(render(counts, fit, [p.name for p in paths]), encoding="utf-8")
    print(
        f"reading prior {fit.reading_prior:g} strength {fit.reading_strength:g} styles; "
        f"absence prior {fit.absence_prior:g} strength {fit.absence_strength:g} styles"
    )
    for rule, value in fit_confidences(counts, fit).items():
        styles = counts[rule]
        n, k = sum(c[0] for c in styles.values()), sum(c[1] for c in styles.values())
        print(f"{rule:<40} styles={len(styles):<4} n={n:<5} right={k:<5} confidence={value}")
    return 0


if __name__ == "__main__":
    # run as the module proper: `classifier.lofo` imports it, and the `Family` it compares must be the same class
    from classifier import calibrate

    raise SystemExit(calibrate.main())
