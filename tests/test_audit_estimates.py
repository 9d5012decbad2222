"""Requests the logs carry no usage for are estimated from the logs' own measured requests, else from stated
defaults, and every estimate says which (issue 30 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_audit import agentic_chat, audit, chat, completion, write_jsonl


def model_chat(model: str, text: str) -> dict[str, object]:
    return {**chat(text), "model": model}


def test_unlogged_requests_take_the_measured_mean_of_their_class_and_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *({"request": model_chat("gpt-5.4-mini", f"Q{i}"), "response": completion(100, 300)} for i in range(3)),
        *(
            {
                "request": model_chat("gpt-5.4-nano", f"R{i}"),
                "response": completion(100, 100, model="gpt-5.4-nano-2026-03-05"),
            }
            for i in range(3)
        ),
        *({"request": agentic_chat(f"T{i}"), "response": completion(100, 40)} for i in range(2)),
        *(model_chat("gpt-5.4-nano", f"S{i}") for i in range(4)),  # bodies only: no answer logged
        *(agentic_chat(f"U{i}") for i in range(5)),
    ]
    code, r = audit(capsys, str(write_jsonl(tmp_path / "mixed.jsonl", rows)))
    assert code == 0
    single = r["estimates"]["completion_tokens"]["single_turn"]
    assert (single["value"], single["source"], single["n"]) == (100, "measured", 3)  # nano's own, not the class 200
    assert single["by_model"]["gpt-5.4-nano"]["n"] == 3 and "gpt-5.4-nano" in single["basis"]
    agentic = r["estimates"]["completion_tokens"]["agentic"]
    assert (agentic["value"], agentic["source"], agentic["n"], agentic["estimated_requests"]) == (40, "measured", 2, 5)
    assert r["tokens"]["single_turn"]["completion_tokens"] == 3 * 300 + 3 * 100 + 4 * 100
    assert r["tokens"]["agentic"]["completion_tokens"] == 2 * 40 + 5 * 40


def test_a_class_with_no_measured_answer_takes_the_stated_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"request": chat("Hi"), "response": completion(100, 300)}, agentic_chat(), agentic_chat("Again?")]
    _, r = audit(capsys, str(write_jsonl(tmp_path / "b.jsonl", rows)))
    agentic = r["estimates"]["completion_tokens"]["agentic"]
    assert (agentic["value"], agentic["source"], agentic["n"]) == (46, "default", 0)
    assert r["tokens"]["agentic"]["completion_tokens"] == 2 * 46
    _, given = audit(capsys, str(write_jsonl(tmp_path / "b.jsonl", rows)), "--output-tokens", "700")
    stated = given["estimates"]["completion_tokens"]["agentic"]
    assert (stated["value"], stated["source"], stated["basis"]) == (700, "default", "--output-tokens")
    assert given["estimates"]["completion_tokens"]["single_turn"]["source"] == "measured"  # logged: not replaced


def test_unlogged_prompts_are_cached_at_their_class_s_measured_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_question = "Summarise this: " + "the quick brown fox jumps over the lazy dog " * 40
    rows = [{"request": chat(f"Q{i}"), "response": completion(2000, 100, cached=1000)} for i in range(4)]
    rows += [chat(long_question)]
    _, r = audit(capsys, str(write_jsonl(tmp_path / "c.jsonl", rows)))
    cached = r["estimates"]["cached_share"]
    assert (cached["value"], cached["source"]) == (0.5, "measured")
    single = r["tokens"]["single_turn"]
    estimated_prompt = single["prompt_tokens"] - 4 * 2000
    assert estimated_prompt > 300
    assert single["cached_tokens"] == 4 * 1000 + round(estimated_prompt * 0.5)
    _, none = audit(capsys, str(write_jsonl(tmp_path / "d.jsonl", [chat(long_question)])))
    assert none["estimates"]["cached_share"] == {
        "value": 0.0,
        "source": "default",
        "by_class": none["estimates"]["cached_share"]["by_class"],
    }


def test_the_text_says_what_was_estimated_and_from_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main as routetax

    rows = [{"request": chat("Hi"), "response": completion(100, 300)}, chat("Hello?"), agentic_chat()]
    assert routetax(["audit", str(write_jsonl(tmp_path / "t.jsonl", rows))]) == 0
    out = capsys.readouterr().out
    assert "2 requests without usage, estimated" in out
    assert "single_turn 300 completion tokens/request, measured on 1 logged" in out
    assert "agentic 46 completion tokens/request, default" in out


def test_no_requests_read_gives_no_bottom_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main as routetax

    log = write_jsonl(tmp_path / "empty.jsonl", [], raw_lines=[b"not json\n"])
    code, r = audit(capsys, str(log))
    assert code == 2 and r["bottom_line"] is None and r["verdict"] is None
    assert routetax(["audit", str(log)]) == 2
    assert capsys.readouterr().out.startswith("No requests read: nothing to decide, no bottom line.\n")


def test_an_expired_batch_s_inputs_take_the_batch_s_own_answered_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch that expired part-way: 4 single-turn inputs, 2 answered (80 completion tokens each)."""
    from tests.test_audit_exports import batch_input, batch_output

    ids = [f"request-{i}" for i in (1, 2, 3, 4)]
    inputs = write_jsonl(tmp_path / "in.jsonl", [batch_input(cid, chat(f"Translate {cid}")) for cid in ids])
    outputs = write_jsonl(tmp_path / "out.jsonl", [batch_output(i, ids[i], completion(100, 80)) for i in (0, 1)])
    _, r = audit(capsys, str(inputs), str(outputs))
    assert r["requests"] == 4 and r["unmatched_batch_inputs"] == 2
    single = r["estimates"]["completion_tokens"]["single_turn"]
    assert (single["value"], single["source"], single["n"], single["estimated_requests"]) == (80, "measured", 2, 2)
    assert r["tokens"]["single_turn"]["completion_tokens"] == 4 * 80
