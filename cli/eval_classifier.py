"""`routetax eval-classifier`: the classifier's accuracy, calibration and latency on a labelled corpus, as a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from classifier.evaluate import CorpusError, default_corpus, evaluate, load
from cli.command import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "eval-classifier",
        help="evaluate the request classifier on a labelled corpus",
        description="Evaluate the request classifier on a labelled corpus.",
    )
    parser.add_argument("--corpus", action="append", type=Path, help="JSONL corpus (repeatable; default: shipped)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        rows = load(args.corpus or default_corpus())
    except CorpusError as exc:
        print(f"routetax eval-classifier: {exc}", file=sys.stderr)
        return 2
    result = evaluate(rows)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    baseline = result["baseline"]
    print(f"requests: {result['n']}")
    print(f"accuracy: {result['accuracy']:.4f}   (naive tool_use|function_call audit: {baseline['accuracy']:.4f})")
    print(f"agentic precision {result['precision']:.4f}  recall {result['recall']:.4f}  F1 {result['f1']:.4f}")
    confusion = result["confusion"]
    print("confusion (rows: actual, columns: predicted)")
    print(f"  {'':<12} {'agentic':>8} {'single_turn':>12}")
    for actual in ("agentic", "single_turn"):
        print(f"  {actual:<12} {confusion[actual]['agentic']:>8} {confusion[actual]['single_turn']:>12}")
    print("accuracy per corpus")
    for corpus, cell in result["per_corpus"].items():
        print(f"  {corpus:<40} n={cell['n']:<4} {cell['accuracy']:.3f}")
    calibration = result["calibration"]
    print(f"calibration: expected calibration error {calibration['ece']:.4f}")
    print(f"  {'confidence bin':<16} {'n':>5} {'mean conf':>10} {'accuracy':>9}")
    for cell in calibration["table"]:
        low, high = cell["bin"]
        closing = "]" if high == 1.0 else ")"
        label = f"[{low:.2f}, {high:.2f}{closing}"
        print(f"  {label:<16} {cell['n']:>5} {cell['confidence']:>10.3f} {cell['accuracy']:>9.3f}")
    print("accuracy per source (naive audit alongside)")
    for source, cell in result["per_source"].items():
        naive = baseline["per_source"][source]["accuracy"]
        print(f"  {source:<40} n={cell['n']:<4} {cell['accuracy']:.3f}   naive {naive:.3f}")
    _print_lofo(result["lofo"])
    print(f"classify latency: p50 {result['latency_us_p50']:.1f} µs, p99 {result['latency_us_p99']:.1f} µs")
    print(f"wrong ({len(result['errors'])}): {', '.join(result['errors']) or 'none'}")


def _print_lofo(lofo: dict[str, Any] | None) -> None:
    if lofo is None:
        print("leave-one-framework-out: no development rows in this corpus (held-out rows are never fitted on)")
        return
    fit = lofo["fit"]
    print(
        "leave-one-framework-out (each style decided with confidences fitted on the others; priors "
        f"{fit['reading_prior']:g} for text readings, {fit['absence_prior']:g} for nothing read, "
        f"strengths {fit['reading_strength']:g} and {fit['absence_strength']:g} styles)"
    )
    print(
        f"  {lofo['n']} requests in {lofo['styles']} styles: accuracy {lofo['accuracy']:.4f}, "
        f"ECE {lofo['ece']:.4f}, worst style {lofo['worst_style_accuracy']:.3f}"
    )
    if lofo["frameworks"]:
        print(
            f"  {lofo['frameworks']} captured frameworks: worst accuracy {lofo['worst_framework_accuracy']:.3f}, "
            f"worst ECE {lofo['worst_framework_ece']:.3f} (target: accuracy >= 0.90, ECE <= 0.05 in each)"
        )
    print(f"  {'framework / style':<40} {'n':>5} {'accuracy':>9} {'mean conf':>10} {'ECE':>7}")
    for style, cell in lofo["per_style"].items():
        kind = "" if cell["framework"] else "  (written)"
        print(
            f"  {style:<40} {cell['n']:>5} {cell['accuracy']:>9.3f} {cell['confidence']:>10.3f} {cell['ece']:>7.3f}"
            f"{kind}"
        )
