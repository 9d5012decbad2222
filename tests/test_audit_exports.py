"""`routetax audit` on exports as the real exporters write them, where the reading used to go wrong (issue 30).

Each test here failed on the code before issue 30 (checked on main at 9a5e0a7): LiteLLM rows stored with
`spend_logs_prompt_storage: latest_turn` read as 0% agentic or skipped; Batch files reusing custom_ids joined
across batches; a byte order mark disabling the Batch join; a file given twice counted twice; one malformed
line stopping the run; one line claiming 10^12 tokens pricing the month at billions; `--format bodies`
reading LiteLLM rows as bodies; `--json` with nothing read still giving a verdict.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax
from metering.audit.batch import Joiner
from metering.audit.latest_turn import Sessions
from metering.tokens import count_messages, count_prompt
from tests.test_audit import LITELLM_ROW, agentic_chat, audit, chat, completion, write_jsonl

# ---------------------------------------------------------------------------------------------------------------
# LiteLLM rows with `spend_logs_prompt_storage: latest_turn`
# ---------------------------------------------------------------------------------------------------------------


def answer(text: str | None = None, *, call: str | None = None, prompt: int = 1800, completion_tokens: int = 40):
    """A chat answer as LiteLLM stores it in the `response` column (its ModelResponse, dumped)."""
    message: dict[str, Any] = {"content": text, "role": "assistant", "tool_calls": None, "function_call": None}
    if call is not None:
        function = {"arguments": '{"reservation_id": "EHGLP3"}', "name": call}
        message["tool_calls"] = [{"function": function, "id": "call_1", "type": "function"}]
    return {
        "id": "chatcmpl-abc",
        "created": 1793491200,
        "model": "gpt-4o-2024-08-06",
        "object": "chat.completion",
        "choices": [{"finish_reason": "tool_calls" if call else "stop", "index": 0, "message": message}],
        "usage": {"completion_tokens": completion_tokens, "prompt_tokens": prompt, "total_tokens": prompt + 40},
    }


def latest_turn_row(n: int, kept: dict[str, Any], response: dict[str, Any], session: str | None) -> dict[str, Any]:
    """A LiteLLM_SpendLogs row, as `SELECT row_to_json(s)` prints it, written with
    `general_settings: {store_prompts_in_spend_logs: true, spend_logs_prompt_storage: latest_turn}`:
    `proxy_server_request` holds the model and the latest user message as text, or only the model when the
    latest message was a tool result; the answer is stored whole."""
    row = json.loads(LITELLM_ROW.read_text())
    usage = response["usage"]
    row.update(
        request_id=f"chatcmpl-{n}",
        model="gpt-4o",
        model_group="gpt-4o",
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        total_tokens=usage["total_tokens"],
        startTime=f"2026-11-03T10:{n:02d}:00.000",
        proxy_server_request=kept,
        response=response,
        session_id=session,
        messages={},
    )
    row["metadata"]["usage_object"] = usage
    return row


def user(text: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}


ONLY_MODEL = {"model": "gpt-4o"}


def airline_and_chat_rows() -> list[dict[str, Any]]:
    """Two agent conversations (tau-bench airline style) and one chat, as latest_turn rows, not in time order."""
    return [
        # Agent conversation s1: the user's second turn comes first in the export; its answer is text.
        latest_turn_row(0, user("Yes, please go ahead."), answer("Done: EHGLP3 is cancelled."), "s1"),
        latest_turn_row(1, user("Cancel my reservation EHGLP3"), answer(call="get_reservation_details"), "s1"),
        latest_turn_row(2, ONLY_MODEL, answer(call="cancel_reservation"), "s1"),  # after the tool's result
        latest_turn_row(3, ONLY_MODEL, answer("It is refundable. Shall I cancel it?"), "s1"),
        # Agent conversation s2: first turn answered in text, then a tool call.
        latest_turn_row(4, user("I need to change a flight"), answer("Which reservation?"), "s2"),
        latest_turn_row(5, user("It's ZFA04Y"), answer(call="get_reservation_details"), "s2"),
        # A chat: its turns look exactly like an agent's text turns.
        latest_turn_row(6, user("Write a haiku about autumn"), answer("Leaves fall ..."), "s3"),
        latest_turn_row(7, user("Another one, about winter"), answer("Snow ..."), "s3"),
        latest_turn_row(8, user("What is 2 + 2?"), answer("4"), None),  # no session at all
    ]


def test_latest_turn_rows_are_read_by_their_answer_and_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Before: the rows holding only the model were skipped as `no_request_body`, the rest read as 0% agentic."""
    log = write_jsonl(tmp_path / "spendlogs.jsonl", airline_and_chat_rows())
    code = routetax(["audit", str(log), "--json"])
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert code == 0
    assert r["requests"] == 9 and r["skipped_reasons"] == {}
    assert r["tokens"]["agentic"]["requests"] == 6  # s1 (4 rows) and s2 (2 rows)
    assert r["agentic_share"] == pytest.approx(6 / 9)
    assert r["classifier"]["reasons"]["response_tool_calls"] == 3
    assert r["classifier"]["reasons"]["tool_result_turn"] == 1
    assert r["classifier"]["reasons"]["session_agentic"] == 2
    latest = r["reading"]["latest_turn"]
    assert latest["rows"] == 9 and latest["undetermined"] == 3  # the chat's two turns and the sessionless one
    assert latest["agentic_share_if_undetermined_agentic"] == pytest.approx(1.0)
    warning = next(line for line in captured.err.splitlines() if "latest_turn" in line)
    assert "9 LiteLLM rows keep only the latest user message" in warning
    assert "3 could not be told apart" in warning and "would be 100.0%, not 66.7%" in warning
    assert r["reading"]["warnings"] == [warning.removeprefix("routetax audit: ")]


def test_latest_turn_rows_as_json_text_columns_and_responses_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON columns as text (as LiteLLM's writer passes them), and a Responses row whose answer calls a tool."""
    responses_answer = {
        "id": "resp_1",
        "object": "response",
        "output": [{"type": "function_call", "name": "search", "arguments": "{}", "call_id": "c1"}],
        "usage": {"input_tokens": 900, "output_tokens": 20, "total_tokens": 920},
    }
    kept = {"model": "gpt-4o", "input": [{"role": "user", "content": "Find flights"}]}
    row = latest_turn_row(1, kept, answer(), None)
    row.update(
        call_type="aresponses",
        proxy_server_request=json.dumps(row["proxy_server_request"]),
        response=json.dumps(responses_answer),
    )
    text_row = latest_turn_row(2, ONLY_MODEL, answer("ok"), None)
    text_row.update(proxy_server_request=json.dumps(ONLY_MODEL), response=json.dumps(text_row["response"]))
    code, r = audit(capsys, str(write_jsonl(tmp_path / "spend.jsonl", [row, text_row])))
    assert code == 0 and r["requests"] == 2 and r["agentic_share"] == 1.0
    assert r["apis"] == {"responses": 1, "chat": 1}


def test_whole_bodies_are_not_taken_for_latest_turn_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With prompts stored whole, a one-message chat is single-turn and nothing is said about latest_turn."""
    rows = [
        latest_turn_row(1, user("Hi"), answer("Hello"), "s1"),
        latest_turn_row(2, {**agentic_chat(), "model": "gpt-4o"}, answer(call="get_weather"), "s1"),
        latest_turn_row(3, {}, answer("x"), "s2"),  # prompts not stored at all: still no request body
    ]
    code = routetax(["audit", str(write_jsonl(tmp_path / "spend.jsonl", rows)), "--json"])
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert code == 0 and r["requests"] == 2 and r["skipped_reasons"] == {"no_request_body": 1}
    assert r["agentic_share"] == 0.5  # the tools are in the stored body: the one-message chat stays single-turn
    assert r["reading"]["latest_turn"] is None and "latest_turn" not in captured.err


# ---------------------------------------------------------------------------------------------------------------
# OpenAI Batch files
# ---------------------------------------------------------------------------------------------------------------

OK = {"status_code": 200}


def batch_input(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A line of the file uploaded to POST /v1/batches."""
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def batch_output(n: int, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A line of a batch's output file, as the Batch API writes it (no batch id on the line)."""
    response = {**OK, "request_id": f"req_{n:04d}", "body": body}
    return {"id": f"batch_req_{n:04d}", "custom_id": custom_id, "response": response, "error": None}


def two_batches(tmp_path: Path, names: tuple[str, str, str, str]) -> list[Path]:
    """Batch 0: 3 single-turn requests (100 prompt tokens each); batch 1: 3 agentic ones (5,000 each). Both number
    their custom_ids request-1, request-2, ... as OpenAI's examples do. Outputs in an order of their own."""
    in0, in1, out0, out1 = (tmp_path / name for name in names)
    ids = [f"request-{i}" for i in (1, 2, 3)]
    write_jsonl(in0, [batch_input(cid, chat(f"Translate sentence {cid}")) for cid in ids])
    write_jsonl(in1, [batch_input(cid, agentic_chat()) for cid in ids])
    write_jsonl(out0, [batch_output(i, cid, completion(100, 50)) for i, cid in enumerate(reversed(ids))])
    write_jsonl(out1, [batch_output(10 + i, cid, completion(5000, 20)) for i, cid in enumerate(ids)])
    return [in0, in1, out0, out1]


def assert_batches_joined_right(r: dict[str, Any]) -> None:
    assert r["requests"] == 6 and r["skipped_reasons"] == {} and r["unmatched_batch_inputs"] == 0
    single, agentic = r["tokens"]["single_turn"], r["tokens"]["agentic"]
    assert (single["requests"], single["prompt_tokens"], single["completion_tokens"]) == (3, 300, 150)
    assert (agentic["requests"], agentic["prompt_tokens"], agentic["completion_tokens"]) == (3, 15000, 60)


FILE_IDS = ("file-9aQ.jsonl", "file-Zt2.jsonl", "file-k1P.jsonl", "file-Hh7.jsonl")  # saved under their file ids
PAIRINGS = {  # file names, and the order the files are given in (indices into in0, in1, out0, out1)
    "by name": (("in0.jsonl", "in1.jsonl", "out0.jsonl", "out1.jsonl"), (0, 1, 2, 3)),
    "by name, any order": (("in0.jsonl", "in1.jsonl", "out0.jsonl", "out1.jsonl"), (3, 0, 2, 1)),
    "x-input / x-output": (("a-input.jsonl", "b-input.jsonl", "a-output.jsonl", "b-output.jsonl"), (3, 1, 0, 2)),
    "by order": (FILE_IDS, (0, 1, 2, 3)),
}


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_reused_custom_ids_join_within_each_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str], pairing: str):
    """`audit in0 in1 out0 out1`: before, single-turn requests got the agentic batch's usage."""
    names, order = PAIRINGS[pairing]
    files = two_batches(tmp_path, names)
    code, r = audit(capsys, *(str(files[i]) for i in order))
    assert code == 0
    assert_batches_joined_right(r)


def test_reused_custom_ids_that_cannot_be_paired_are_refused_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    in0, in1, out0, out1 = two_batches(tmp_path, FILE_IDS)
    errors = write_jsonl(tmp_path / "file-Ee4.jsonl", [batch_output(99, "request-9", completion(1, 1))])  # 3 outputs
    assert routetax(["audit", str(in0), str(in1), str(out0), str(out1), str(errors), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "custom_id 'request-1' names two different Batch requests" in captured.err
    assert str(in0) in captured.err and str(in1) in captured.err
    assert "could not be paired" in captured.err


def test_two_batches_on_one_stream_are_refused_not_mixed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    in0, in1, out0, out1 = two_batches(tmp_path, ("a-in.jsonl", "b-in.jsonl", "a-out.jsonl", "b-out.jsonl"))
    stdin(monkeypatch, b"".join(path.read_bytes() for path in (in0, out0, in1, out1)))
    assert routetax(["audit", "-"]) == 2
    err = capsys.readouterr().err
    assert "custom_id 'request-1' names two different Batch requests (twice in -)" in err


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("which", ["output", "input", "both"])
def test_a_byte_order_mark_does_not_stop_the_join(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """Before: a BOM on the output file made its first line invalid JSON and the join was never started."""
    in0, _in1, out0, _out1 = two_batches(tmp_path, ("in0.jsonl", "in1.jsonl", "out0.jsonl", "out1.jsonl"))
    for path in (in0, out0):
        if which == "both" or path.name.startswith(which[:2]):
            path.write_bytes(BOM + path.read_bytes())
    code, r = audit(capsys, str(in0), str(out0))
    assert code == 0 and r["requests"] == 3 and r["skipped_reasons"] == {}
    assert r["tokens"]["single_turn"]["prompt_tokens"] == 300 and not r["tokens"]["single_turn"]["estimated"]


def test_the_same_file_given_twice_is_read_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    in0, _in1, out0, _out1 = two_batches(tmp_path, ("in0.jsonl", "in1.jsonl", "out0.jsonl", "out1.jsonl"))
    copy = tmp_path / "copy-of-out0.jsonl"
    copy.write_bytes(out0.read_bytes())
    code = routetax(["audit", str(in0), str(out0), str(in0), str(copy), "--json"])
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert code == 0 and r["requests"] == 3 and r["skipped_reasons"] == {"duplicate_file": 2}
    assert f"{copy} has the same content as {out0}: read once" in captured.err
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"request": chat("Hi"), "response": completion(10, 5)}])
    code, r = audit(capsys, str(pairs), str(pairs))
    assert r["requests"] == 1 and r["skipped_reasons"] == {"duplicate_file": 1}


def test_a_file_given_twice_does_not_upset_the_pairing_by_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    in0, in1, out0, out1 = two_batches(tmp_path, FILE_IDS)
    code, r = audit(capsys, str(in0), str(in0), str(in1), str(out0), str(out1))
    assert code == 0 and r["skipped_reasons"].pop("duplicate_file") == 1
    assert_batches_joined_right(r)


def test_duplicate_batch_lines_on_a_stream_count_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    """`cat out out in in | routetax audit -`: each request once, the repeats named."""
    in0, _in1, out0, _out1 = two_batches(tmp_path, ("in0.jsonl", "in1.jsonl", "out0.jsonl", "out1.jsonl"))
    stdin(monkeypatch, out0.read_bytes() * 2 + in0.read_bytes() * 2)
    code, r = audit(capsys, "-")
    assert code == 0 and r["requests"] == 3 and r["skipped_reasons"] == {"duplicate_line": 6}
    assert r["tokens"]["single_turn"]["prompt_tokens"] == 300


# ---------------------------------------------------------------------------------------------------------------
# Malformed values, implausible usage
# ---------------------------------------------------------------------------------------------------------------

MALFORMED: list[dict[str, Any]] = [
    {"input": 5},
    {"model": "m", "messages": [{"role": "assistant", "content": None, "tool_calls": 5}]},
    {"model": "m", "messages": ["hello", {"role": "user", "content": "x"}]},
    {"model": "m", "messages": "hello"},
    {"model": "m", "messages": [{"role": "user", "content": 5}]},
    {"model": "m", "input": [5]},
    {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": 5},
    {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"function": "f"}]}]},
]


@pytest.mark.parametrize("exact", [False, True], ids=["sampled", "exact"])
def test_malformed_values_are_skipped_by_name_in_and_out_of_the_tokenizer_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], exact: bool
) -> None:
    """Before: `{"input": 5}` or `"tool_calls": 5` stopped the run with a TypeError when the tokenizer sampled it."""
    rows: list[Any] = list(MALFORMED)  # the first lines: always in the tokenizer's sample
    rows += [chat(f"Question {i}") for i in range(1100)]
    rows += [{"request": body, "response": completion(10, 5)} for body in MALFORMED]  # pairs: usage logged
    rows += [chat(f"More {i}") for i in range(5)] + MALFORMED  # past the first 1,000: one in 32 sampled
    code, r = audit(capsys, str(write_jsonl(tmp_path / "log.jsonl", rows)), *(["--exact-tokens"] if exact else []))
    assert code == 0
    assert r["requests"] == 1105 and r["skipped_reasons"] == {"malformed_request": 3 * len(MALFORMED)}


def test_the_token_counter_does_not_raise_on_malformed_values() -> None:
    assert count_prompt({"input": 5}, "responses") == count_prompt({"input": []}, "responses")
    assert count_messages([{"role": "assistant", "tool_calls": 5}]) == count_messages([{"role": "assistant"}])
    assert count_prompt({"messages": [{"role": "user", "content": "x"}], "tools": 5}) > 0


def test_usage_above_the_models_limits_is_skipped_as_implausible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: one line claiming 10^12 prompt tokens moved mini-only from dollars to billions a month."""
    honest = [{"request": chat(f"Q{i}"), "response": completion(1000, 100)} for i in range(20)]
    _, clean = audit(capsys, str(write_jsonl(tmp_path / "clean.jsonl", honest)), "--calls-per-month", "1000")
    wild = [
        {"request": chat("x"), "response": completion(10**12, 100)},
        {"request": chat("y"), "response": completion(1000, 200_000)},  # above gpt-5.4-mini's 128K output limit
        {"request": {**chat("z"), "model": "gpt-4o"}, "response": {**completion(200_000, 10), "model": "gpt-4o"}},
    ]
    rows: list[Any] = [*honest, *wild]
    row = json.loads(LITELLM_ROW.read_text())
    row.update(prompt_tokens=10**12, request_id="big")
    row["metadata"]["usage_object"] = None
    rows.append(row)
    code, r = audit(capsys, str(write_jsonl(tmp_path / "wild.jsonl", rows)), "--calls-per-month", "1000")
    assert code == 0 and r["requests"] == 20 and r["skipped_reasons"] == {"implausible_usage": 4}
    assert r["projected_monthly_usd"] == clean["projected_monthly_usd"]


def test_a_batch_request_skipped_for_its_input_or_its_usage_is_one_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An implausible output skips its request; a malformed input takes its output with it (not "without input")."""
    inputs = [batch_input("a", chat("Hi")), batch_input("b", chat("Yo")), batch_input("c", MALFORMED[3])]
    usage = {"a": completion(10**12, 5), "b": completion(10, 5), "c": completion(9, 5)}
    outputs = [batch_output(i, cid, body) for i, (cid, body) in enumerate(usage.items())]
    files = write_jsonl(tmp_path / "x-input.jsonl", inputs), write_jsonl(tmp_path / "x-output.jsonl", outputs)
    code, r = audit(capsys, *map(str, files))
    assert code == 0 and r["requests"] == 1
    assert r["skipped_reasons"] == {"implausible_usage": 1, "malformed_request": 1}


# ---------------------------------------------------------------------------------------------------------------
# --format bodies on LiteLLM rows; --json with nothing read
# ---------------------------------------------------------------------------------------------------------------


def test_format_bodies_refuses_litellm_rows_and_says_which_format_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the rows' `messages` column made them bodies, read as `{}` single-turn chats."""
    rows = json.loads(LITELLM_ROW.read_text()), {**json.loads(LITELLM_ROW.read_text()), "request_id": "2"}
    log = write_jsonl(tmp_path / "spend.jsonl", list(rows))
    assert routetax(["audit", str(log), "--format", "bodies", "--json"]) == 2
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["requests"] == 0 and r["skipped_reasons"] == {"other_format": 2}
    assert r["reading"]["other_formats"] == {"litellm-spend": 2}
    assert "--format bodies: 2 lines are litellm-spend lines, not bodies" in captured.err
    assert "--format litellm-spend" in captured.err


def test_json_with_no_request_read_gives_no_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `--json` with 0 requests still printed a verdict ("nano") and projections of nothing."""
    log = write_jsonl(tmp_path / "bad.jsonl", [{"hello": "world"}], raw_lines=[b"nope\n"])
    assert routetax(["audit", str(log), "--json"]) == 2
    r = json.loads(capsys.readouterr().out)
    assert r["result"] == "no_requests" and r["requests"] == 0 and r["verdict"] is None
    assert r["skipped_reasons"] == {"unrecognised_shape": 1, "invalid_json": 1}
    assert "projected_monthly_usd" not in r and "agentic_share" not in r
    assert routetax(["audit", str(log)]) == 2
    out = capsys.readouterr().out
    assert "skipped 2 lines" in out and "verdict" not in out


def test_inputs_that_wait_past_the_bound_count_estimated_and_their_late_output_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a stream no output file was seen to start, inputs wait for their outputs at most `MAX_WAITING` at once."""
    monkeypatch.setattr(Joiner, "MAX_WAITING", 2)
    ids = ("a", "b", "c")
    lines = [batch_input(cid, chat(f"Q {cid}")) for cid in ids]
    lines += [batch_output(i, cid, completion(100, 10)) for i, cid in enumerate(ids)]
    stdin(monkeypatch, b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    code, r = audit(capsys, "-")
    assert code == 0 and r["requests"] == 3 and r["unmatched_batch_inputs"] == 1  # "a" had waited too long
    assert r["skipped_reasons"] == {"batch_output_after_input": 1}
    assert r["tokens"]["single_turn"]["logged_requests"] == 2


def test_rows_that_wait_past_the_bound_for_their_session_count_by_their_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Sessions, "MAX_WAITING", 1)
    rows = [
        latest_turn_row(1, user("Yes, go ahead"), answer("Done."), "s1"),
        latest_turn_row(2, user("Hello"), answer("Hi"), "s2"),  # two rows waiting: s1's is settled as it stands
        latest_turn_row(3, user("Cancel EHGLP3"), answer(call="cancel_reservation"), "s1"),
        latest_turn_row(4, user("And ZFA04Y?"), answer("Also done."), "s1"),  # s1 is known agentic by now
    ]
    code, r = audit(capsys, str(write_jsonl(tmp_path / "spend.jsonl", rows)))
    assert code == 0 and r["requests"] == 4
    latest = r["reading"]["latest_turn"]
    assert (latest["agentic_by_response_tool_calls"], latest["agentic_by_session"], latest["undetermined"]) == (1, 1, 2)
