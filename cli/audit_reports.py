"""`routetax audit`'s shareable outputs: `--markdown [FILE]`, `--html FILE` and `--progress`.

Standard output holds one page: the terminal page (default), `--json`, or a Markdown or HTML page
given `-`. `--markdown` alone prints Markdown instead of the terminal page (it is text a terminal
shows well); `--html` needs a file (or `-`: an HTML page in a terminal helps nobody). A page written
to a file leaves standard output to the others, so `--json --html report.html` gives both.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from metering.tax.audit_html import render_html
from metering.tax.audit_markdown import render_markdown

STDOUT = "-"


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--markdown",
        nargs="?",
        const=STDOUT,
        metavar="FILE",
        help="the report as Markdown, to FILE (default: standard output, instead of the terminal page)",
    )
    p.add_argument("--html", metavar="FILE", help="the report as one self-contained HTML file (charts inline)")
    p.add_argument(
        "--progress",
        action="store_true",
        help="progress lines on standard error even when it is not a terminal (lines read, rate)",
    )


def check_reports(args: argparse.Namespace) -> str | None:
    """Why these outputs cannot all be given, or None."""
    to_stdout = [name for name, target in (("--markdown", args.markdown), ("--html", args.html)) if target == STDOUT]
    if args.json:
        to_stdout.insert(0, "--json")
    if len(to_stdout) > 1:
        return f"{' and '.join(to_stdout)} would both write standard output: give the others a FILE"
    return None


def stdout_page(result: dict[str, Any], args: argparse.Namespace) -> str | None:
    """The Markdown or HTML page that goes to standard output, or None (the terminal page or --json does)."""
    if args.markdown == STDOUT:
        return render_markdown(result)
    if args.html == STDOUT:
        return render_html(result)
    return None


def write_reports(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Write the pages given a FILE; the files written. Raises OSError when one cannot be written."""
    written = []
    for target, render in ((args.markdown, render_markdown), (args.html, render_html)):
        if target is not None and target != STDOUT:
            Path(target).write_text(render(result), encoding="utf-8")
            written.append(target)
    return written
