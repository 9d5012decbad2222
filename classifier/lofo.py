"""Leave one framework out: how the classifier does on a style its calibration never saw.

For each style (a captured row's framework, a written row's source; see `calibrate.style_of`), the
confidences are fitted on every other style and the held-out style is decided with them; the
out-of-style decisions of all styles together give the accuracy and the expected calibration error
(ECE) printed by `routetax eval-classifier`, and the same figures for each style. A rule that fires in
one style only is met, when that style is held out, with nothing but its prior: what the rule states
then is what it can claim before evidence.

The rules themselves are the same in every fold (they are written, not fitted), so the accuracy is
the rules' accuracy; what the folds test is whether the stated confidences hold on styles they were
not fitted on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from classifier.calibrate import FIXED, UNPARSEABLE, count, prior, style_of
from classifier.evaluate import reliability

Decided = list[tuple[dict[str, Any], str, str]]  # (row, predicted label, rule), from `calibrate.decide`


def leave_one_style_out(decided: Decided, strength: float) -> dict[str, Any]:
    """Pooled and per-style accuracy and ECE, each style decided with confidences fitted without it."""
    counts = count(decided)
    sums = {rule: (sum(k / n for n, k in styles.values()), len(styles)) for rule, styles in counts.items()}
    by_style: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for row, label, rule in decided:
        style = style_of(row)
        by_style[style].append((_held_out_confidence(rule, style, counts, sums, strength), label == row["label"]))
    confidences = [c for cells in by_style.values() for c, _ in cells]
    correct = [ok for cells in by_style.values() for _, ok in cells]
    pooled = reliability(confidences, correct)
    styles = {
        style: {
            "n": len(cells),
            "accuracy": sum(ok for _, ok in cells) / len(cells),
            "confidence": sum(c for c, _ in cells) / len(cells),
            "ece": reliability([c for c, _ in cells], [ok for _, ok in cells])["ece"],
        }
        for style, cells in sorted(by_style.items())
    }
    return {
        "strength": strength,
        "n": len(correct),
        "styles": len(styles),
        "accuracy": sum(correct) / len(correct),
        "worst_style_accuracy": min(cell["accuracy"] for cell in styles.values()),
        "ece": pooled["ece"],
        "table": pooled["table"],
        "per_style": styles,
    }


def _held_out_confidence(
    rule: str,
    style: str,
    counts: dict[str, dict[str, tuple[int, int]]],
    sums: dict[str, tuple[float, int]],
    strength: float,
) -> float:
    if rule in FIXED:
        return 1.0 if rule == "header_override" else UNPARSEABLE
    total, styles = sums[rule]
    own = counts[rule].get(style)
    if own is not None:
        total, styles = total - own[1] / own[0], styles - 1
    return (total + strength * prior(rule)) / (styles + strength)
