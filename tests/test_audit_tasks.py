"""`routetax audit` groups the logged requests into tasks as the proxy does, and prices them per task (issue 30).

Before issue 30 the audit had no `tasks` at all: every test here fails on main (checked at f93f38e: KeyError 'tasks').
The logs are written as each exporter writes them (request/response pairs, bare bodies, LiteLLM spend rows), the
lines not in time order where it matters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax
from metering.tax.model import OVERHEAD_MID
from tests.test_audit import MINI, NANO, audit, litellm_row, write_jsonl

T0 = 1_793_491_200  # 2026-11-01, unix seconds
AIRLINE_TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_user_details", "get_reservation_details", "cancel_reservation")
]
SYSTEM = {"role": "system", "content": "You are an airline customer service agent. Follow the policy."}


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def answer(message: dict[str, Any], prompt: int, completion: int, at: float) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{at}",
        "object": "chat.completion",
        "created": int(at),
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage(prompt, completion),
    }


def airline_run(tag: str, start: float, steps: int = 6) -> list[dict[str, Any]]:
    """A tau-bench airline trajectory as an agent sends it: every step resends the whole history (system prompt,
    tools, the user's request, each tool call and its result) with no session id; the last step answers in text.
    As request/response pairs, one per step, 2 s apart."""
    messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": f"Please cancel reservation {tag}."}]
    pairs = []
    for k in range(steps):
        at = start + 2 * k
        if k < steps - 1:
            call = {"reservation_id": tag, "step": k}
            reply = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{tag}_{k}",
                        "type": "function",
                        "function": {"name": "get_reservation_details", "arguments": json.dumps(call)},
                    }
                ],
            }
        else:
            reply = {"role": "assistant", "content": f"Reservation {tag} is cancelled; the refund takes 5 days."}
        request = {"model": "gpt-4o", "messages": [dict(m) for m in messages], "tools": AIRLINE_TOOLS}
        pairs.append({"timestamp": at, "request": request, "response": answer(reply, 1500 + 200 * k, 40, at)})
        # The SDK sends the answer back re-serialised: without the null fields it came with.
        messages.append({k: v for k, v in reply.items() if v is not None})
        if k < steps - 1:
            messages.append({"role": "tool", "tool_call_id": f"call_{tag}_{k}", "content": json.dumps({"ok": k})})
    return pairs


def bodies(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same requests as bare bodies with their time: no answer logged."""
    return [{**pair["request"], "timestamp": pair["timestamp"]} for pair in pairs]


def single(text: str, at: float, prompt: int = 50, completion: int = 10) -> dict[str, Any]:
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    reply = {"role": "assistant", "content": f"The answer to {text!r}."}
    return {"timestamp": at, "request": request, "response": answer(reply, prompt, completion, at)}


def tasks_of(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    code, r = audit(capsys, str(path))
    assert code == 0
    return r, r["tasks"]


@pytest.mark.parametrize("logged", ["pairs", "bodies"])
def test_an_agent_run_of_six_steps_without_session_ids_is_one_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logged: str
) -> None:
    """Found by continuation — with the answers logged exactly, without them on the history's prefix alone —
    though the lines are written newest first."""
    run = airline_run("EHGLP3", T0)
    rows = run if logged == "pairs" else bodies(run)
    r, t = tasks_of(capsys, write_jsonl(tmp_path / f"{logged}.jsonl", rows[::-1]))
    assert r["requests"] == 6
    assert t["count"] == 1 and t["grouped_by"] == {"session": 0, "response_chain": 0, "continuation": 1, "single": 0}
    assert t["steps_per_task"] == {"mean": 6.0, "p50": 6, "p90": 6}
    assert t["agentic_share"] == 1.0
    assert any("read after requests logged later" in note for note in t["notes"])
    assert any("no logged answer" in note for note in t["notes"]) is (logged == "bodies")


def test_runs_and_single_calls_mixed_give_a_share_per_task_below_the_share_per_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two agent runs of 6 steps among 8 one-off questions: 12 of 20 requests are agentic, 2 of 10 tasks."""
    rows = airline_run("EHGLP3", T0) + airline_run("ZFA04Y", T0 + 5)
    rows += [single(f"What is {n} + {n}?", T0 + 1 + n) for n in range(8)]
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert r["agentic_share"] == pytest.approx(12 / 20)
    assert t["count"] == 10 and t["agentic_share"] == pytest.approx(2 / 10)
    assert t["grouped_by"] == {"session": 0, "response_chain": 0, "continuation": 2, "single": 8}
    assert t["steps_per_task"] == {"mean": 2.0, "p50": 1, "p90": 6}
    assert t["by_class"] == {"single_turn": {"tasks": 8, "requests": 8}, "agentic": {"tasks": 2, "requests": 12}}


def test_litellm_rows_with_a_session_id_are_one_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LiteLLM's `session_id` joins the rows of one session though their histories do not extend each other (an
    application that trims its history); a row without one is a task of its own."""
    rows = [
        litellm_row(f"r{n}", {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, session_id="s1")
        for n, text in enumerate(["Plan a trip to Lisbon", "Now book the hotel", "And the flight"])
    ]
    rows.append(litellm_row("r9", {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}))
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "spend.jsonl", rows))
    assert r["requests"] == 4
    assert t["count"] == 2 and t["grouped_by"] == {"session": 1, "response_chain": 0, "continuation": 0, "single": 1}
    assert t["steps_per_task"]["p90"] == 3


def test_an_x_routetax_task_header_logged_with_the_request_names_its_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logged HTTP exchange keeps the request's headers: two agents of one run, with separate histories, are one
    task by the header the client sent (as the proxy groups them)."""
    rows = [
        {
            "request": {"url": "/v1/chat/completions", "headers": HEADERS, "body": pair["request"]},
            "response": pair["response"],
        }
        for pair in (single("Research flights to Lisbon", T0), single("Write the itinerary", T0 + 3))
    ]
    _, t = tasks_of(capsys, write_jsonl(tmp_path / "http.jsonl", rows))
    assert t["count"] == 1 and t["grouped_by"]["session"] == 1


HEADERS = {"Content-Type": "application/json", "X-Routetax-Task": "run-7"}


def responses_step(n: int, previous: str | None, items: list[dict[str, Any]], output: list[dict[str, Any]], **extra):
    request: dict[str, Any] = {"model": "gpt-5.4-mini", "input": items, **extra}
    if previous is not None:
        request["previous_response_id"] = previous
    response = {
        "id": f"resp_{n}",
        "object": "response",
        "status": "completed",
        "output": output,
        "usage": {"input_tokens": 400, "output_tokens": 30, "total_tokens": 430},
    }
    return {"timestamp": T0 + n, "request": request, "response": response}


def test_a_responses_chain_and_a_conversation_are_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`previous_response_id` continues the task of the response it names (each request sends only what is new);
    `conversation` names a task of its own."""
    call = {"type": "function_call", "call_id": "call_w1", "name": "get_weather", "arguments": "{}"}
    text = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "21C in Lisbon."}]}
    chain = [
        responses_step(1, None, [{"role": "user", "content": "Weather in Lisbon?"}], [call]),
        responses_step(2, "resp_1", [{"type": "function_call_output", "call_id": "call_w1", "output": "21C"}], [text]),
        responses_step(3, "resp_2", [{"role": "user", "content": "And tomorrow?"}], [text]),
    ]
    talk = [
        responses_step(n, None, [{"role": "user", "content": f"Turn {n}"}], [text], conversation={"id": "conv_9"})
        for n in (4, 5)
    ]
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "responses.jsonl", [chain[2], *talk, chain[0], chain[1]]))
    assert r["requests"] == 5
    assert t["count"] == 2 and t["grouped_by"] == {"session": 0, "response_chain": 2, "continuation": 0, "single": 0}


def conversation(tag: str, start: float, replies: list[str], turns: list[str]) -> list[dict[str, Any]]:
    """A person's chat opening with "Hi!", as pairs: each turn resends the history with the answers it got."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Hi!"}]
    rows = []
    for n, reply in enumerate(replies):
        at = start + 60 * n
        message = {"role": "assistant", "content": reply}
        rows.append(
            {
                "timestamp": at,
                "request": {"model": "gpt-4o", "messages": [dict(m) for m in messages]},
                "response": answer(message, 30 + 20 * n, 12, at),
            }
        )
        messages += [message, {"role": "user", "content": turns[n]}] if n < len(turns) else [message]
    return rows


def chat_turning_agent(tier: str | None = None) -> list[dict[str, Any]]:
    """A chat whose first step declares no tools (single-turn by itself) and whose second books with a tool call, as
    pairs 30 s apart (its second step's request and answer at `tier`, if given)."""
    first = {"model": "gpt-4o", "messages": [{"role": "user", "content": "I want to fly to Lisbon on Friday."}]}
    reply = {"role": "assistant", "content": "Sure: from which city are you flying?"}
    second: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [*first["messages"], reply, {"role": "user", "content": "From Porto. Book the cheapest."}],
        "tools": AIRLINE_TOOLS,
    }
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_book_1", "type": "function", "function": {"name": "book", "arguments": "{}"}}],
    }
    booked = answer(call, 300, 50, T0 + 30)
    if tier is not None:
        second["service_tier"] = booked["service_tier"] = tier
    return [
        {"timestamp": T0, "request": first, "response": answer(reply, 100, 20, T0)},
        {"timestamp": T0 + 30, "request": second, "response": booked},
    ]


@pytest.mark.parametrize("logged", ["pairs", "bodies"])
def test_two_conversations_with_identical_starts_stay_two_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logged: str
) -> None:
    """Both open with the same request; their answers, then their turns, differ: two tasks of three steps, never
    one of six (with the answers logged, each follows its own; without, the shared opening is shared out)."""
    a = conversation("a", T0, ["Hello! How can I help?", "Here is a joke.", "Bye."], ["Tell me a joke", "Thanks"])
    b = conversation("b", T0 + 1, ["Hi there!", "It is noon.", "See you."], ["What time is it?", "Thanks"])
    rows = sorted(a + b, key=lambda row: -row["timestamp"])
    _, t = tasks_of(capsys, write_jsonl(tmp_path / f"{logged}.jsonl", rows if logged == "pairs" else bodies(rows)))
    assert t["count"] == 2 and t["steps_per_task"] == {"mean": 3.0, "p50": 3, "p90": 3}
    assert t["grouped_by"]["continuation"] == 2


def test_a_chat_that_turns_into_an_agent_run_is_priced_as_one_agentic_task_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its first step declares no tools (single-turn by itself, nano under dual per request); the proxy routes the
    task as a whole, so per task that step goes to mini too. Every figure by hand from the published prices."""
    rows = [
        *chat_turning_agent(),
        single("What is the capital of France?", T0 + 10),
        single("Translate 'bom dia'", T0 + 20),
    ]
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "mix.jsonl", rows))

    def price(rates: dict[str, float], prompt: int, completion: int) -> float:
        return prompt * rates["input"] + completion * rates["output"]

    load = 1 + OVERHEAD_MID
    chats_nano, chats_mini = 2 * price(NANO, 50, 10), 2 * price(MINI, 50, 10)
    first_nano, first_mini, second_mini = price(NANO, 100, 20), price(MINI, 100, 20), price(MINI, 300, 50)
    assert r["monthly_basis"] == "log_as_one_month"  # 30 s of logs: the month is the logged requests, scale 1
    assert r["agentic_share"] == pytest.approx(1 / 4) and t["agentic_share"] == pytest.approx(1 / 3)
    assert r["projected_monthly_usd"]["dual"] == pytest.approx(load * (chats_nano + first_nano + second_mini))
    dual_by_task = load * (chats_nano + first_mini + second_mini)
    assert t["projected_monthly_usd"]["dual"] == pytest.approx(dual_by_task)
    assert t["projected_monthly_usd"]["dual"] > r["projected_monthly_usd"]["dual"]
    mini_only = chats_mini + first_mini + second_mini  # the same tokens, the same tier: the same either way
    assert t["projected_monthly_usd"]["mini_only"] == pytest.approx(mini_only)
    assert r["projected_monthly_usd"]["mini_only"] == pytest.approx(mini_only)
    assert t["projected_monthly_usd"]["nano_only"] == pytest.approx(r["projected_monthly_usd"]["nano_only"])
    assert t["cost_per_task_usd"]["dual"] == pytest.approx(dual_by_task / 3)
    assert t["cost_per_task_usd"]["mini_only"] == pytest.approx(mini_only / 3)
    # per completed task at the published per-task success rates (mini: 0.721 agentic, 0.544 single-turn)
    completed = 1 * 0.721 + 2 * 0.544
    assert t["cost_per_completed_task_usd"]["mini_only"] == pytest.approx(mini_only / completed)


def test_estimated_tokens_are_the_same_total_per_task_as_per_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bodies only: the per-task view spreads the per-request view's estimates, so a single-tier policy costs the
    same both ways."""
    rows = bodies(airline_run("EHGLP3", T0) + [single(f"Question {n}?", T0 + 50 + n) for n in range(5)])
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "bodies.jsonl", rows))
    for policy in ("mini_only", "nano_only"):
        assert t["projected_monthly_usd"][policy] == pytest.approx(r["projected_monthly_usd"][policy], rel=1e-3)


def test_the_terminal_page_shows_tasks_beside_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = airline_run("EHGLP3", T0) + [single(f"What is {n} + {n}?", T0 + 1 + n) for n in range(6)]
    assert routetax(["audit", str(write_jsonl(tmp_path / "mixed.jsonl", rows))]) == 0
    page = capsys.readouterr().out
    assert "7 tasks from 12 requests" in page
    assert "agentic share       14.3% of tasks (50.0% of requests)" in page
    assert "cost per task" in page and "dual tier" in page


def test_x_routetax_task_in_the_request_metadata_litellm_keeps_names_the_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LiteLLM keeps a request's `metadata` as `requester_metadata`: a client that put `x-routetax-task` there is
    grouped by it, as the proxy groups by the header."""
    rows = []
    for n, text in enumerate(["Draft the release notes", "Now the changelog"]):
        row = litellm_row(f"r{n}", {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})
        row["metadata"] = {**row["metadata"], "requester_metadata": {"x-routetax-task": "release-42"}}
        rows.append(row)
    _, t = tasks_of(capsys, write_jsonl(tmp_path / "spend.jsonl", rows))
    assert t["count"] == 1 and t["grouped_by"]["session"] == 1


def test_logs_without_any_time_are_grouped_in_reading_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bare bodies with no time at all (nothing to sort by, nothing idle): the run is still one task."""
    rows = [{k: v for k, v in body.items() if k != "timestamp"} for body in bodies(airline_run("EHGLP3", T0))]
    rows += [{"model": "gpt-4o", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}]
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "untimed.jsonl", rows))
    assert r["requests"] == 7 and r["time_range"] is None
    assert t["count"] == 2 and t["grouped_by"]["continuation"] == 1 and t["steps_per_task"]["p90"] == 6
    assert any("7 requests carry no time" in note for note in t["notes"])


@pytest.mark.parametrize("logged", ["pairs", "bodies"])
def test_filing_only_what_a_later_request_continues_from_groups_as_filing_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, logged: str
) -> None:
    """The walk files only the histories and answers some request's runs name (issue 30, speed); past
    MAX_WANTED such digests it files everything, as it always did. Both give the same tasks."""
    from metering.audit import task_groups

    rows = airline_run("EHGLP3", T0) + airline_run("ZFA04Y", T0 + 5)
    rows += conversation("a", T0, ["Hello! How can I help?", "Here is a joke.", "Bye."], ["Tell me a joke", "Thanks"])
    rows += conversation("b", T0 + 1, ["Hi there!", "It is noon.", "See you."], ["What time is it?", "Thanks"])
    rows += [single(f"What is {n} + {n}?", T0 + 1 + n) for n in range(8)] + [single("What is 1 + 1?", T0 + 20)]
    rows = sorted(rows, key=lambda row: -row["timestamp"])
    path = write_jsonl(tmp_path / f"{logged}.jsonl", rows if logged == "pairs" else bodies(rows))
    _, filtered = tasks_of(capsys, path)
    monkeypatch.setattr(task_groups, "MAX_WANTED", 0)
    _, everything = tasks_of(capsys, path)
    assert filtered == everything
    assert filtered["count"] == 2 + 2 + 9  # two runs, two chats, nine questions (asked again: no answer to continue)


@pytest.mark.parametrize("logged", ["pairs", "bodies", "both"])
def test_the_task_sums_read_off_the_tallys_totals_equal_the_sums_of_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, logged: str
) -> None:
    """The sums by task class are read off the tally's sums by request class, with only the single-turn requests in
    agentic tasks summed row by row (issue 30, speed): the same figures as summing every row, on logs with logged and
    estimated tokens, a flex tier and a chat that turns into an agent run (a single-turn step in an agentic task)."""
    from metering.audit import task_groups

    rows = [
        *chat_turning_agent(tier="flex"),
        *airline_run("EHGLP3", T0 + 40),
        *[single(f"What is {n} + {n}?", T0 + 1 + n) for n in range(6)],
    ]
    if logged == "bodies":
        rows = bodies(rows)
    elif logged == "both":
        rows = rows[:8] + bodies(rows[8:])
    path = write_jsonl(tmp_path / f"{logged}.jsonl", rows)
    _, by_difference = tasks_of(capsys, path)

    def every_row(result: Any, agentic: Any, task_of: Any, flags: Any, columns: Any, formats: Any, tpb: Any, _: Any):
        task_groups._sum_every_row(result, agentic, task_of, flags, columns, formats, tpb)

    monkeypatch.setattr(task_groups, "_sum_by_difference", every_row)
    _, summed = tasks_of(capsys, path)
    assert by_difference == summed
    assert by_difference["agentic_share"] == pytest.approx(2 / 8)  # the chat turned agent run, the airline run


def test_requests_past_the_rows_held_are_counted_but_not_grouped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_HELD requests the rest are counted per request as always, and the per-task sums are made from the
    held rows alone (not read off the tally's totals, which count every request)."""
    from metering.audit import task_groups

    monkeypatch.setattr(task_groups.TaskGroups, "MAX_HELD", 6)
    rows = airline_run("EHGLP3", T0) + [single(f"What is {n} + {n}?", T0 + 20 + n) for n in range(4)]
    r, t = tasks_of(capsys, write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert r["requests"] == 10
    assert t["count"] == 1 and t["agentic_share"] == 1.0  # the airline run's six steps: one agentic task
    assert t["requests_grouped"] == 6
    assert any("4 requests past the first 6 were not grouped" in note for note in t["notes"])
