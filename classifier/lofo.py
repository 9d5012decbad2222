"""Leave one framework out: how the classifier does on a style its calibration never saw.

For each style (a captured row's framework, a written row's source; see `calibrate.style_of`), the
confidences are fitted on every other style and the held-out style is decided with them; the
out-of-style decisions of all styles together give the accuracy and the expected calibration error
(ECE) printed by `routetax eval-classifier`, and the same figures for each style. A rule that fires in
one style only is met, when that style is held out, with nothing but its family's prior: what the rule
states then is what it can claim before evidence.

The rules themselves are the same in every fold (they are written, not fitted), so the accuracy is
the rules' accuracy; what the folds test is whether the stated confidences hold on styles they were
not fitted on. The target holds per captured framework, not only pooled: a pooled ECE can hide one
framework stated far from what it gets behind many stated right.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from classifier.calibrate import FIXED, UNPARSEABLE, Family, Fit, count, family, shrunk, style_of
from classifier.evaluate import reliability

Decided = list[tuple[dict[str, Any], str, str]]  # (row, predicted label, rule), from `calibrate.decide`


class Folds:
    """Every style's decisions with what the other styles say of each rule, ready to be stated under any fit.

    A fold's confidences depend only on the fit, so one pass over the rows serves every fit `choose_fit`
    tries: a cell is (style, rule, right or not) with its request count and the rule's record elsewhere.
    """

    def __init__(self, decided: Decided) -> None:
        counts = count(decided)
        sums = {rule: (sum(k / n for n, k in styles.values()), len(styles)) for rule, styles in counts.items()}
        cells: dict[tuple[str, str, bool], int] = defaultdict(int)
        frameworks: set[str] = set()
        for row, label, rule in decided:
            style = style_of(row)
            cells[(style, rule, label == row["label"])] += 1
            if isinstance(row.get("framework"), str) and row["framework"]:
                frameworks.add(style)
        # style -> [(rule, right, requests, sum of the rule's accuracies in the other styles, how many)]
        self.cells: dict[str, list[tuple[str, bool, int, float, int]]] = defaultdict(list)
        for (style, rule, right), n in sorted(cells.items()):
            total, styles = sums[rule]
            own = counts[rule].get(style)
            if own is not None:
                total, styles = total - own[1] / own[0], styles - 1
            self.cells[style].append((rule, right, n, total, styles))
        self.frameworks = frameworks
        # the styles the target is checked on: the captured frameworks, or every style of a corpus with none
        self.judged = sorted(frameworks) if frameworks else sorted(self.cells)
        self.all_right = {style for style, rows in self.cells.items() if all(right for _, right, *_ in rows)}
        self.size = {style: sum(n for _, _, n, _, _ in rows) for style, rows in self.cells.items()}

    def stated(self, style: str, fit: Fit) -> list[tuple[float, bool, int]]:
        """(confidence, right, requests) of each of the style's cells, fitted without the style."""
        return [(_held_out(rule, total, styles, fit), right, n) for rule, right, n, total, styles in self.cells[style]]

    def stated_sum(self, fit: Fit, families: Collection[Family]) -> float:
        """Requests times stated confidence, over the cells of these families in every fold."""
        return sum(
            n * _held_out(rule, total, styles, fit)
            for rows in self.cells.values()
            for rule, _, n, total, styles in rows
            if rule not in FIXED and family(rule) in families
        )

    def style_ece(self, style: str, fit: Fit) -> float:
        stated = self.stated(style, fit)
        if style in self.all_right:  # every bin right: the ECE is the mean shortfall of the confidence
            return 1 - sum(c * n for c, _, n in stated) / self.size[style]
        return _ece(stated)

    def pooled_ece(self, fit: Fit) -> float:
        return _ece([cell for style in self.cells for cell in self.stated(style, fit)])

    def within(self, fit: Fit, target: float) -> bool:
        """Every judged style's ECE and the pooled ECE within the target (the cheap checks first)."""
        return all(self.style_ece(style, fit) <= target for style in self.judged) and self.pooled_ece(fit) <= target

    def worst(self, fit: Fit) -> tuple[float, float]:
        return max(self.style_ece(style, fit) for style in self.judged), self.pooled_ece(fit)


def leave_one_style_out(decided: Decided, fit: Fit) -> dict[str, Any]:
    """Pooled and per-style accuracy and ECE, each style decided with confidences fitted without it."""
    folds = Folds(decided)
    by_style = {style: folds.stated(style, fit) for style in folds.cells}
    confidences = [c for cells in by_style.values() for c, _, n in cells for _ in range(n)]
    correct = [ok for cells in by_style.values() for _, ok, n in cells for _ in range(n)]
    pooled = reliability(confidences, correct)
    styles = {
        style: {
            "n": folds.size[style],
            "framework": style in folds.frameworks,
            "accuracy": sum(n for _, ok, n in cells if ok) / folds.size[style],
            "confidence": sum(c * n for c, _, n in cells) / folds.size[style],
            "ece": _ece(cells),
        }
        for style, cells in sorted(by_style.items())
    }
    frameworks = [cell for cell in styles.values() if cell["framework"]]
    return {
        "fit": {
            "reading_prior": fit.reading_prior,
            "reading_strength": fit.reading_strength,
            "absence_prior": fit.absence_prior,
            "absence_strength": fit.absence_strength,
        },
        "n": len(correct),
        "styles": len(styles),
        "frameworks": len(frameworks),
        "accuracy": sum(correct) / len(correct),
        "worst_style_accuracy": min(cell["accuracy"] for cell in styles.values()),
        "worst_framework_accuracy": min((cell["accuracy"] for cell in frameworks), default=None),
        "worst_framework_ece": max((cell["ece"] for cell in frameworks), default=None),
        "ece": pooled["ece"],
        "table": pooled["table"],
        "per_style": styles,
    }


def _held_out(rule: str, total: float, styles: int, fit: Fit) -> float:
    if rule in FIXED:
        return 1.0 if rule == "header_override" else UNPARSEABLE
    return shrunk(rule, total, styles, fit)


def _ece(cells: list[tuple[float, bool, int]]) -> float:
    confidences = [c for c, _, n in cells for _ in range(n)]
    return reliability(confidences, [ok for _, ok, n in cells for _ in range(n)])["ece"]
