"""`routetax audit` on real log files of every format it reads, written here the way the tools write them."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax
from metering.audit.scan import ScanOptions, scan
from metering.audit.sources import Progress, Source
from tests.running import Processes

ROUTETAX = [sys.executable, "-m", "cli"]
NANO = {"input": 0.20e-6, "cached": 0.02e-6, "output": 1.25e-6}
MINI = {"input": 0.75e-6, "cached": 0.075e-6, "output": 4.50e-6}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": text}], **extra}


def agentic_chat(text: str = "What's the weather in Lisbon?") -> dict[str, Any]:
    return chat(text, tools=TOOLS)


def tool_loop() -> dict[str, Any]:
    """A chat request continuing a tool loop: the assistant called a tool, its result came back."""
    return {
        "model": "gpt-5.4-mini",
        "messages": [
            {"role": "user", "content": "Weather in Lisbon?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "21C"},
        ],
    }


def completion(prompt: int, completion_tokens: int, cached: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_793_491_200,
        "model": "gpt-5.4-mini-2026-03-05",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        **extra,
    }


def write_jsonl(path: Path, rows: list[Any], *, gz: bool = False, raw_lines: list[bytes] = ()) -> Path:
    data = b"".join(json.dumps(row).encode() + b"\n" for row in rows) + b"".join(raw_lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = routetax(["audit", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_bare_bodies_chat_and_responses_are_classified_where_grep_is_fooled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_jsonl(
        tmp_path / "bodies.jsonl",
        [
            agentic_chat(),
            tool_loop(),
            {"model": "gpt-5.4-mini", "input": "Summarise this paragraph.", "instructions": "Be brief."},
            {"model": "gpt-5.4-mini", "input": "Find flights", "tools": [{"type": "web_search"}]},
            chat("Explain what OpenAI's function_call field was and why it was replaced."),  # grep's false positive
            chat("Translate 'good morning' to Portuguese."),
        ],
    )
    code, r = audit(capsys, str(log))
    assert code == 0
    assert r["requests"] == 6 and r["skipped"] == 0
    assert r["apis"] == {"chat": 4, "responses": 2}
    assert r["agentic_share"] == pytest.approx(3 / 6)
    assert r["grep_agentic_share"] == pytest.approx(1 / 6)  # grep sees only the quoted field name
    agentic = r["tokens"]["agentic"]
    assert agentic["requests"] == 3 and agentic["estimated"] is True and agentic["prompt_tokens"] > 0
    assert agentic["completion_tokens"] == 3 * 46  # nothing logged: the stated default, per request
    estimate = r["estimates"]["completion_tokens"]["agentic"]
    assert (estimate["value"], estimate["source"], estimate["n"]) == (46, "default", 0)
    assert "real" in estimate["basis"]
    assert any("stated defaults" in note for note in r["assumptions"])
    assert r["cached_share"] is None  # no usage logged: unknown, not zero


def test_pairs_use_logged_usage_and_report_cached_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"request": agentic_chat(), "response": completion(2000, 100, cached=1024)},
            {"request": tool_loop(), "response": completion(3000, 50, cached=2048)},
            {"request": chat("Hi"), "response": completion(1000, 300)},
        ],
    )
    code, r = audit(capsys, str(log))
    assert code == 0
    agentic, single = r["tokens"]["agentic"], r["tokens"]["single_turn"]
    assert (agentic["prompt_tokens"], agentic["cached_tokens"], agentic["completion_tokens"]) == (5000, 3072, 150)
    assert (single["prompt_tokens"], single["completion_tokens"]) == (1000, 300)
    assert not agentic["estimated"] and not single["estimated"]
    assert agentic["cached_share"] == pytest.approx(3072 / 5000)
    assert r["cached_share"] == pytest.approx(3072 / 6000)


def test_projection_is_the_published_prices_with_the_logged_modifiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"request": agentic_chat(), "response": completion(2000, 100, cached=1000)},
            {"request": chat("Hi"), "response": completion(1000, 300, service_tier="flex")},
        ],
    )
    code, r = audit(capsys, str(log), "--calls-per-month", "1000000", "--gpu-hour-usd", "2.5")
    assert code == 0
    scale = 1_000_000 / 2

    def agentic_on(rates: dict[str, float]) -> float:
        return 1000 * rates["input"] + 1000 * rates["cached"] + 100 * rates["output"]

    def single_on(rates: dict[str, float]) -> float:  # flex reported: half price
        return 0.5 * (1000 * rates["input"] + 300 * rates["output"])

    p = r["projected_monthly_usd"]
    assert p["nano_only"] == pytest.approx(scale * (agentic_on(NANO) + single_on(NANO)))
    assert p["mini_only"] == pytest.approx(scale * (agentic_on(MINI) + single_on(MINI)))
    dual = scale * (single_on(NANO) + agentic_on(MINI))
    assert p["dual"] == pytest.approx(dual * 1.175)
    assert (p["dual_low"], p["dual_high"]) == (pytest.approx(dual * 1.15), pytest.approx(dual * 1.20))
    assert p["agentic_to_qwen"] == pytest.approx(scale * single_on(NANO) * 1.175)
    assert p["agentic_to_qwen_amortised"] == pytest.approx(p["agentic_to_qwen"] + 730 * 2.5)
    corrected = r["success_corrected"]["cost_per_completed_task_usd"]
    assert corrected["mini_only"] == pytest.approx(p["mini_only"] / (scale * 0.721 + scale * 0.544))
    assert corrected["dual"] == pytest.approx(p["dual"] / (scale * 0.721 + scale * 0.5239))
    assert corrected["agentic_to_qwen"] is None  # no published success rate for Qwen: not invented
    assert r["break_even_agentic_share"] == pytest.approx(0.797, abs=5e-4)
    assert r["verdict"] == "mini"  # the published table at 50% agentic
    assert r["calculator_verdict"] == "dual_tier_pays"


def test_openai_batch_input_and_output_are_joined_by_custom_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_jsonl(
        tmp_path / "batch_input.jsonl",
        [
            {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": agentic_chat()},
            {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": chat("Hi")},
            {"custom_id": "c", "method": "POST", "url": "/v1/responses", "body": {"model": "m", "input": "Hello"}},
            {"custom_id": "d", "method": "POST", "url": "/v1/embeddings", "body": {"model": "e", "input": "x"}},
            {"custom_id": "e", "method": "POST", "url": "/v1/chat/completions", "body": chat("fails")},
        ],
    )
    ok = {"status_code": 200, "request_id": "req_1"}
    outputs = write_jsonl(  # OpenAI does not keep the input order
        tmp_path / "batch_output.jsonl",
        [
            {"id": "batch_req_2", "custom_id": "b", "response": {**ok, "body": completion(1000, 300)}, "error": None},
            {"id": "batch_req_1", "custom_id": "a", "response": {**ok, "body": completion(2000, 100)}, "error": None},
            {"id": "batch_req_5", "custom_id": "e", "response": None, "error": {"code": "x", "message": "failed"}},
            {"id": "batch_req_9", "custom_id": "zz", "response": {**ok, "body": completion(5, 5)}, "error": None},
        ],
    )
    code, r = audit(capsys, str(outputs), str(inputs), "--calls-per-month", "3")
    assert code == 0
    assert r["requests"] == 3  # a, b joined; c has no output line (counted, estimated)
    assert r["unmatched_batch_inputs"] == 1
    assert r["skipped_reasons"] == {"unsupported_endpoint": 1, "failed_request": 1, "batch_output_without_input": 1}
    assert r["tokens"]["agentic"]["prompt_tokens"] == 2000 and not r["tokens"]["agentic"]["estimated"]
    single = r["tokens"]["single_turn"]
    assert single["logged_requests"] == 1 and single["estimated_requests"] == 1
    assert single["completion_tokens"] == 300 + 300  # the unanswered one gets its class's logged mean
    batch_agentic = 0.5 * (2000 * MINI["input"] + 100 * MINI["output"])  # Batch: half price
    assert r["projected_monthly_usd"]["mini_only"] > batch_agentic
    assert r["tokens"]["agentic"]["requests_by_mode"] == {"batch": 1}


LITELLM_ROW = Path(__file__).resolve().parent.parent / "examples" / "audit" / "litellm-spendlogs-row.json"


def litellm_row(request_id: str, body: Any, **extra: Any) -> dict[str, Any]:
    """A LiteLLM_SpendLogs row as `SELECT row_to_json(s) FROM "LiteLLM_SpendLogs" s` prints it (schema.prisma)."""
    row = json.loads(LITELLM_ROW.read_text())
    row.update(request_id=request_id, proxy_server_request=body, **extra)
    return row


def test_litellm_spend_rows_nested_or_as_json_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        litellm_row("r1", agentic_chat()),
        litellm_row(  # the JSON columns as text, as some exports write them
            "r2",
            json.dumps(chat("Hi")),
            metadata=json.dumps({"additional_usage_values": {"cache_read_input_tokens": 256}}),
            startTime="2026-11-04T09:00:00.000",
        ),
        litellm_row("r3", {}),  # prompts not stored (LiteLLM's default)
        litellm_row("r4", chat("x"), status="failure"),
        litellm_row("r5", chat("x"), cache_hit="True"),
        litellm_row("r6", {"input": "x"}, call_type="aembedding"),
    ]
    code, r = audit(capsys, str(write_jsonl(tmp_path / "spend.jsonl", rows)))
    assert code == 0
    assert r["requests"] == 2 and r["agentic_share"] == 0.5
    assert r["skipped_reasons"] == {
        "no_request_body": 1,
        "failed_request": 1,
        "litellm_cache_hit": 1,
        "unsupported_endpoint": 1,
    }
    assert r["tokens"]["agentic"]["cached_tokens"] == 512 and r["tokens"]["agentic"]["reasoning_tokens"] == 40
    assert r["tokens"]["single_turn"]["cached_tokens"] == 256
    assert r["logged_spend_usd"] == pytest.approx(2 * 0.00195)
    assert r["time_range"]["first"] == "2026-11-03T10:15:00.123000+00:00"  # naive LiteLLM times are UTC
    assert r["formats"] == {"litellm-spend": 2}


def test_litellm_api_pages_are_read_row_by_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = {"data": [litellm_row("r1", agentic_chat()), litellm_row("r2", chat("Hi"))], "total": 2, "page": 1}
    code, r = audit(capsys, str(write_jsonl(tmp_path / "pages.jsonl", [page])))
    assert code == 0 and r["requests"] == 2 and r["lines"] == 2


def test_bad_lines_are_counted_by_reason_and_the_rest_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_jsonl(
        tmp_path / "mixed.jsonl",
        [chat("Hi"), 42, {"hello": "world"}, {"request": {}, "response": {}}],
        raw_lines=[b"{not json\n", b"\xff\xfe garbage\n", b"\n", b"   \n", json.dumps(agentic_chat()).encode()],
    )
    code, r = audit(capsys, str(log))
    assert code == 0
    assert r["requests"] == 2
    assert r["skipped_reasons"] == {
        "invalid_json": 2,
        "not_an_object": 1,
        "unrecognised_shape": 1,
        "no_request_body": 1,
    }
    assert r["lines"] == 7  # blank lines are not log lines


def test_text_report_names_each_skip_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(tmp_path / "x.jsonl", [chat("Hi")], raw_lines=[b"oops\n"])
    assert routetax(["audit", str(log)]) == 0
    out = capsys.readouterr().out
    assert "skipped 1 lines:" in out and "invalid_json" in out and "not JSON" in out
    assert "agentic share" in out and "verdict" in out and "projected monthly cost" in out


def test_nothing_readable_exits_2_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(tmp_path / "bad.jsonl", [], raw_lines=[b"nope\n", b"[1, 2]\n"])
    assert routetax(["audit", str(log)]) == 2
    err = capsys.readouterr().err
    assert "no request could be read from 2 lines" in err and "invalid_json" in err
    assert routetax(["audit", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


def test_a_forced_format_skips_lines_of_other_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(tmp_path / "bodies.jsonl", [chat("Hi"), agentic_chat()])
    assert routetax(["audit", str(log), "--format", "litellm-spend", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["skipped_reasons"] == {"other_format": 2}
    assert "--format litellm-spend: 2 lines are bodies lines" in captured.err
    log = write_jsonl(tmp_path / "neither.jsonl", [{"hello": "world"}])
    assert routetax(["audit", str(log), "--format", "litellm-spend", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["skipped_reasons"] == {"unrecognised_shape": 1}


def test_gzip_is_read_transparently_and_a_cut_stream_keeps_what_was_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"request": chat(f"Question {i}"), "response": completion(100, 10)} for i in range(200)]
    whole = write_jsonl(tmp_path / "pairs.jsonl.gz", rows, gz=True)
    code, r = audit(capsys, str(whole))
    assert code == 0 and r["requests"] == 200
    cut = tmp_path / "cut.jsonl.gz"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    code, r = audit(capsys, str(cut), str(whole))
    assert code == 0
    assert 200 < r["requests"] < 400
    assert r["skipped_reasons"] == {"unreadable_file": 1}
    assert "cut.jsonl.gz" in r["unreadable_files"][0]


@pytest.mark.parametrize("gz", [False, True])
def test_dash_reads_standard_input(tmp_path: Path, gz: bool, processes: Processes) -> None:
    rows = [{"request": agentic_chat(), "response": completion(2000, 100)}, chat("Hi")]
    data = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    done = processes.run(
        [*ROUTETAX, "audit", "-", "--json"],
        input=gzip.compress(data) if gz else data,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["requests"] == 2 and r["agentic_share"] == 0.5
    assert done.stderr == b""  # a pipe gets no progress line


def test_batch_files_on_standard_input_are_joined(tmp_path: Path, processes: Processes) -> None:
    output = {"id": "batch_req_1", "custom_id": "a", "response": {"status_code": 200, "body": completion(10, 5)}}
    inp = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": chat("Hi")}
    data = (json.dumps(output) + "\n" + json.dumps(inp) + "\n").encode()
    done = processes.run([*ROUTETAX, "audit", "-", "--json"], input=data, capture_output=True, timeout=120)
    r = json.loads(done.stdout)
    assert r["requests"] == 1 and r["tokens"]["single_turn"]["prompt_tokens"] == 10


def day_rows(day: int, requests: int, agentic: int) -> list[dict[str, Any]]:
    stamp = f"2026-11-{day:02d}T12:00:00Z"
    return [
        {"timestamp": stamp, "request": agentic_chat() if i < agentic else chat("Hi"), "response": completion(10, 5)}
        for i in range(requests)
    ]


def test_per_day_share_trend_and_weeks_to_break_even(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [row for day in range(1, 8) for row in day_rows(day, 1000, 200 + 20 * day)]  # +2 points a day
    code, r = audit(capsys, str(write_jsonl(tmp_path / "days.jsonl", rows)))
    assert code == 0
    assert [d["day"] for d in r["per_day"]] == [f"2026-11-0{d}" for d in range(1, 8)]
    assert r["per_day"][0]["agentic_share"] == pytest.approx(0.22)
    trend = r["trend"]
    assert trend["points_per_week"] == pytest.approx(14.0)
    assert trend["share_now_fitted"] == pytest.approx(0.34)
    assert 0 < trend["interval"]["low"] < 14.0 < trend["interval"]["high"]
    assert trend["weeks_to_break_even"] == pytest.approx((r["break_even_agentic_share"] - 0.34) / 0.14)
    assert "crosses" in trend["crossing"]
    assert r["monthly_basis"] == "observed_rate"  # 7,000 requests over 6 days
    assert r["monthly_requests"] == pytest.approx(7000 / 6 * 365 / 12)


def test_a_trend_within_its_noise_announces_no_crossing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """+1 point a day on 100 requests a day is inside the days' own binomial noise (±4 points each)."""
    rows = [row for day in range(1, 8) for row in day_rows(day, 100, 20 + day)]
    code, r = audit(capsys, str(write_jsonl(tmp_path / "days.jsonl", rows)))
    trend = r["trend"]
    assert trend["points_per_week"] == pytest.approx(7.0)
    assert trend["interval"]["low"] < 0 < trend["interval"]["high"]
    assert "crossing" not in trend and trend["weeks_to_break_even"] is None
    assert "no crossing announced" in trend["reading"]


def test_trend_needs_three_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, r = audit(capsys, str(write_jsonl(tmp_path / "d.jsonl", day_rows(1, 5, 1) + day_rows(2, 5, 2))))
    assert r["trend"]["available"] is False and "3 days" in r["trend"]["why"]


def test_since_and_until_select_by_the_logged_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = day_rows(1, 3, 0) + day_rows(2, 4, 4) + day_rows(3, 5, 0) + [chat("no time on this line")]
    log = write_jsonl(tmp_path / "d.jsonl", rows)
    code, r = audit(capsys, str(log), "--since", "2026-11-02", "--until", "2026-11-03T00:00:00Z")
    assert code == 0
    assert r["requests"] == 4 and r["agentic_share"] == 1.0
    assert r["skipped_reasons"] == {"outside_window": 8, "no_timestamp": 1}
    assert routetax(["audit", str(log), "--since", "2026-11-03", "--until", "2026-11-02"]) == 2


def test_json_contract_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, r = audit(capsys, str(write_jsonl(tmp_path / "b.jsonl", [chat("Hi"), agentic_chat()])))
    for key in ("requests", "skipped", "agentic_share", "grep_agentic_share", "tokens", "projected_monthly_usd"):
        assert key in r
    assert set(r["tokens"]) == {"single_turn", "agentic"}
    assert {"nano_only", "mini_only", "dual", "agentic_to_qwen"} <= set(r["projected_monthly_usd"])
    assert isinstance(r["break_even_agentic_share"], float) and isinstance(r["verdict"], str)
    assert isinstance(r["skipped"], int)


def test_progress_line_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write_jsonl(tmp_path / "b.jsonl", [chat(f"Q{i}") for i in range(3 * Progress.EVERY_LINES)])

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(Progress, "EVERY_S", 0.0)
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        scan([Source(str(log))], ScanOptions(), Progress(stream))
    assert "lines/s" in terminal.getvalue() and terminal.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""


def test_audit_is_a_routetax_subcommand(tmp_path: Path, processes: Processes) -> None:
    log = write_jsonl(tmp_path / "b.jsonl", [chat("Hi")])
    done = processes.run([*ROUTETAX, "audit", str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "routetax audit: 1 requests from 1 lines" in done.stdout


def test_sampled_token_estimate_is_close_to_counting_every_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [chat(f"Question number {i}: " + "please explain " * (i % 40)) for i in range(2500)]
    log = write_jsonl(tmp_path / "bodies.jsonl", rows)
    _, sampled = audit(capsys, str(log))
    _, exact = audit(capsys, str(log), "--exact-tokens")
    estimate = sampled["tokens"]["single_turn"]["prompt_tokens"]
    counted = exact["tokens"]["single_turn"]["prompt_tokens"]
    assert estimate != counted  # most lines were scaled, not counted
    assert estimate == pytest.approx(counted, rel=0.03)


def test_batch_input_then_output_on_one_stream_are_joined(tmp_path: Path, processes: Processes) -> None:
    """`cat input.jsonl output.jsonl | routetax audit -` joins: it used to count the input with estimated tokens
    and skip the output as `batch_output_after_input`."""
    inp = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": chat("Hi")}
    output = {"id": "batch_req_1", "custom_id": "a", "response": {"status_code": 200, "body": completion(10, 5)}}
    data = (json.dumps(inp) + "\n" + json.dumps(output) + "\n").encode()
    done = processes.run([*ROUTETAX, "audit", "-", "--json"], input=data, capture_output=True, timeout=120)
    r = json.loads(done.stdout)
    assert r["requests"] == 1 and r["skipped_reasons"] == {}
    assert r["tokens"]["single_turn"]["estimated"] is False and r["tokens"]["single_turn"]["prompt_tokens"] == 10
