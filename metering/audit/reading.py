"""What the reading of the logs could not settle, said in words and as data; and the answer when nothing was read.

The projection prices what was read; this says what the reading left open, so a figure that rests
on it is not taken for more than it is: LiteLLM rows stored with `latest_turn` whose class cannot be
known (and what the agentic share would be if they were all agentic), lines of another format than
`--format` names, files given twice. Each is a warning line (the command writes them on standard
error) and a key under `reading` in `--json`.
"""

from __future__ import annotations

from typing import Any

from metering.audit.formats import Format
from metering.audit.latest_turn import Read
from metering.audit.scan import Tally

NO_REQUESTS = "no_requests"


def reading(tally: Tally, fmt: Format) -> dict[str, Any]:
    """The reading's open points: `warnings` (one line each) and their counts."""
    warnings: list[str] = []
    latest = _latest_turn(tally)
    if latest is not None:
        warnings.append(latest.pop("warning"))
    for other, n in tally.other_formats.most_common():
        warnings.append(
            f"--format {fmt.value}: {n:,} lines are {other} lines, not {fmt.value}, and were skipped: "
            f"read them with --format {other} (or auto, the default, which tells each line's format)"
        )
    return {
        "warnings": warnings,
        "latest_turn": latest,
        "other_formats": dict(tally.other_formats.most_common()),
        "duplicate_files": list(tally.duplicate_files),
    }


def _latest_turn(tally: Tally) -> dict[str, Any] | None:
    if not tally.latest_turn_proven:
        return None
    read = {how.value: tally.latest_turn[how.value] for how in Read}
    rows = sum(read.values())
    undetermined = read[Read.UNDETERMINED]
    share = tally.agentic / tally.requests if tally.requests else 0.0
    upper = min(tally.agentic + undetermined, tally.requests) / tally.requests if tally.requests else 0.0
    warning = (
        f"{rows:,} LiteLLM rows keep only the latest user message (spend_logs_prompt_storage: latest_turn): "
        f"read as agentic {read[Read.TOOL_CALLS]:,} by the tool calls of their stored answer, "
        f"{read[Read.TOOL_TURN]:,} by a tool-result turn, {read[Read.SESSION]:,} by their session and "
        f"{read[Read.MESSAGE]:,} by their message; {undetermined:,} could not be told apart (their tools and "
        "earlier turns were not stored) and count as single-turn"
    )
    if undetermined:
        warning += f": were they all agentic, the agentic share would be {upper:.1%}, not {share:.1%}"
    return {
        "rows": rows,
        **read,
        "agentic_share_if_undetermined_agentic": upper,
        "warning": warning,
    }


def no_requests(tally: Tally, fmt: Format) -> dict[str, Any]:
    """The answer when no request could be read: what was skipped and why, and no verdict (nothing to judge)."""
    return {
        "result": NO_REQUESTS,
        "requests": 0,
        "lines": tally.lines,
        "skipped": tally.skipped_total,
        "skipped_reasons": dict(tally.skipped.most_common()),
        "unreadable_files": list(tally.unreadable),
        "unmatched_batch_inputs": tally.unmatched_batch_inputs,
        "apis": {},
        "formats": {},
        "verdict": None,
        "bottom_line": None,  # no requests read: nothing to decide
        "reading": reading(tally, fmt),
    }
