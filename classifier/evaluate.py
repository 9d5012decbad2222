"""The classifier measured on a labelled corpus: accuracy, confusion, per-corpus and per-source accuracy,
calibration and latency (`routetax eval-classifier` prints them).

It also scores the naive audit the published analysis proposes — a request is agentic when
its JSON mentions `tool_use|function_call` — so the classifier's margin over it is a number.
Calibration: decisions are binned by confidence; each bin's accuracy beside its mean confidence
is the reliability table, and the expected calibration error (ECE) is their gap weighted by
the bin's share of requests.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from classifier.core import classify
from classifier.decision import AGENTIC

DATA_DIR = Path(__file__).parent / "data"
BINS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0)  # confidence bins of the reliability table; the last holds 1.0
NAIVE = re.compile(rb"tool_use|function_call", re.IGNORECASE)


class CorpusError(Exception):
    """A corpus that cannot be read: a missing file or a malformed line."""


def default_corpus() -> list[Path]:
    return sorted(DATA_DIR.glob("*.jsonl"))


def load(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            raise CorpusError(f"cannot read corpus {path}: {exc.strerror or exc}") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict) or row.get("label") not in ("agentic", "single_turn") or "request" not in row:
                raise CorpusError(f"{path}:{number}: needs 'label' (agentic|single_turn) and 'request'")
            row.setdefault("id", f"{path.name}:{number}")
            row.setdefault("api", "chat")
            row.setdefault("source", path.stem)
            row["corpus"] = path.name
            rows.append(row)
    if not rows:
        raise CorpusError("the corpus is empty")
    return rows


def naive_label(request: Any) -> str:
    return AGENTIC if NAIVE.search(orjson.dumps(request)) else "single_turn"


def score(rows: list[dict[str, Any]], predictions: list[str]) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors = []
    for row, predicted in zip(rows, predictions, strict=True):
        actual_agentic, predicted_agentic = row["label"] == AGENTIC, predicted == AGENTIC
        tp += actual_agentic and predicted_agentic
        fp += predicted_agentic and not actual_agentic
        fn += actual_agentic and not predicted_agentic
        tn += not actual_agentic and not predicted_agentic
        cell = per_source[row["source"]]
        cell[0] += 1
        cell[1] += predicted == row["label"]
        if predicted != row["label"]:
            errors.append(row["id"])
    n = len(rows)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": n,
        "accuracy": (tp + tn) / n,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "confusion": {"agentic": {"agentic": tp, "single_turn": fn}, "single_turn": {"agentic": fp, "single_turn": tn}},
        "per_source": {s: {"n": c[0], "accuracy": c[1] / c[0]} for s, c in sorted(per_source.items())},
        "errors": errors,
    }


def evaluate(rows: list[dict[str, Any]], repeats: int = 3) -> dict[str, Any]:
    predictions = []
    confidences = []
    timings: list[float] = []
    for row in rows:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter_ns()
            decision = classify(row["request"], api=row["api"])
            best = min(best, time.perf_counter_ns() - start)
        timings.append(best / 1000)
        predictions.append(decision.label)
        confidences.append(decision.confidence)
    result = score(rows, predictions)
    result["per_corpus"] = _per_corpus(rows, predictions)
    result["calibration"] = reliability(confidences, [p == r["label"] for p, r in zip(predictions, rows, strict=True)])
    timings.sort()
    result["latency_us_p50"] = statistics.median(timings)
    result["latency_us_p99"] = timings[max(0, int(len(timings) * 0.99) - 1)]
    result["baseline"] = score(rows, [naive_label(row["request"]) for row in rows])
    result["lofo"] = leave_one_framework_out(rows)
    return result


def leave_one_framework_out(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`classifier.lofo` on the rows that are not held out (held-out rows are never fitted on); None if none are.

    The fit (each family's prior and strength) is the shipped one, so the figures are those of the shipped
    calibration's method.
    """
    from classifier import calibrate, lofo  # they read corpora through this module

    development = [row for row in rows if row.get("split") != "heldout"]
    if not development:
        return None
    return lofo.leave_one_style_out(calibrate.decide(development), calibrate.shipped_fit())


def _per_corpus(rows: list[dict[str, Any]], predictions: list[str]) -> dict[str, dict[str, Any]]:
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, predicted in zip(rows, predictions, strict=True):
        cell = cells[row.get("corpus", "")]
        cell[0] += 1
        cell[1] += predicted == row["label"]
    return {name: {"n": n, "accuracy": right / n} for name, (n, right) in sorted(cells.items())}


def reliability(confidences: list[float], correct: list[bool]) -> dict[str, Any]:
    """The reliability table (per confidence bin: n, mean confidence, accuracy) and the ECE."""
    table = []
    ece = 0.0
    total = len(confidences)
    for low, high in zip(BINS, BINS[1:], strict=False):
        members = [i for i, c in enumerate(confidences) if low <= c < high or (high == 1.0 and c == 1.0)]
        if not members:
            continue
        mean = sum(confidences[i] for i in members) / len(members)
        accuracy = sum(correct[i] for i in members) / len(members)
        ece += len(members) / total * abs(accuracy - mean)
        table.append({"bin": [low, high], "n": len(members), "confidence": mean, "accuracy": accuracy})
    return {"ece": ece, "table": table}
