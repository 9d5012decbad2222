"""The demo's world is made of tasks: it runs what it states — so many tool loops, text-protocol loops,
Responses loops, single calls and conversations; loops that really take several steps with a growing
history; abandoned tasks that stop right after a tool call; feedback on the stated share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from demo.tasks import AGENT_KINDS, Kind, TaskMix, plan_tasks
from demo.world import World
from router.config import Config

MIX = TaskMix(person_pause_s=0.2, machine_pace_s=0.1)  # quick: the pause still twice the pace


def test_the_world_plans_the_counts_it_states() -> None:
    plans = plan_tasks(100, 0.3, 7, TaskMix())
    stated = TaskMix().describe(100, 0.3, 7)
    assert Counter(p.kind.value for p in plans) == stated["kinds"]
    assert sum(stated["kinds"].values()) == 100
    assert sum(n for kind, n in stated["kinds"].items() if Kind(kind) in AGENT_KINDS) == 30
    abandoned = [p for p in plans if p.abandon_after is not None]
    assert len(abandoned) == stated["abandoned"] == 3 and all(p.kind in AGENT_KINDS for p in abandoned)
    assert all(1 <= p.abandon_after < p.rounds + 1 for p in abandoned)  # mid-loop, after a tool round
    assert not any(p.feedback for p in abandoned)  # the application walked away: it says nothing
    assert sum(p.feedback for p in plans) == stated["feedback"] == round(0.8 * 97)
    assert stated["requests"] == sum(p.requests for p in plans)
    assert plan_tasks(100, 0.3, 7, TaskMix()) == plans  # the seed alone decides


def test_a_mix_whose_shares_do_not_add_up_is_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        TaskMix(single={Kind.SINGLE_TURN: 0.5})


def test_agent_tasks_take_several_tool_rounds() -> None:
    agents = [p for p in plan_tasks(200, 0.5, 3, TaskMix()) if p.kind in AGENT_KINDS]
    assert all(2 <= p.rounds <= 5 for p in agents) and {p.rounds for p in agents} == {2, 3, 4, 5}


@pytest.fixture(scope="module")
def demo(run_demo_world: Callable[..., dict]) -> dict:
    config = Config.model_validate({"policy": {"explore": {"share": 0.2, "seed": 5}}})
    return run_demo_world(40, 0.5, seed=5, config=config, world=World(mix=MIX))


def test_the_demo_runs_the_stated_number_of_each_kind_of_task(demo: dict) -> None:
    stated, ran = demo["demo"]["world"]["tasks"], demo["demo"]["ran"]
    assert ran["tasks"] == stated["tasks"] == 40 and ran["kinds"] == stated["kinds"]
    assert set(ran["kinds"]) == {kind.value for kind in Kind}  # every kind of task ran
    assert ran["requests"] == stated["requests"] == demo["measured"]["requests"]
    assert stated["machine_pace_s"] == 0.1 and stated["person_pause_s"] == 0.2  # the pace it set, stated
    header_tasks = [t for t in demo["demo"]["tasks"] if t["kind"] == Kind.TOOL_LOOP_HEADER]
    assert header_tasks and all(t["task_id"] == f"demo-5-{t['index']}" for t in header_tasks)  # its own name


def test_loops_really_run_several_steps_with_a_growing_history(demo: dict) -> None:
    loops = [t for t in demo["demo"]["tasks"] if Kind(t["kind"]) in AGENT_KINDS and not t["abandoned"]]
    assert loops
    for task in loops:
        assert task["steps"] >= 3, task  # two tool rounds at least, then the answer
        assert all(calls >= 1 for calls in task["calls"][:-1]) and task["calls"][-1] == 0, task
        assert all(a < b for a, b in zip(task["sent"], task["sent"][1:], strict=False)), task
    conversations = [t for t in demo["demo"]["tasks"] if t["kind"] == Kind.CONVERSATION]
    assert conversations and all(t["sent"] == [1, 3, 5][: t["steps"]] and t["steps"] >= 2 for t in conversations)


def test_abandoned_tasks_stop_right_after_a_tool_call_and_get_no_feedback(demo: dict) -> None:
    abandoned = [t for t in demo["demo"]["tasks"] if t["abandoned"]]
    assert len(abandoned) == demo["demo"]["world"]["tasks"]["abandoned"] >= 1
    for task in abandoned:
        assert task["calls"][-1] >= 1 and task["feedback"] is None and task["success"] is None, task


def test_feedback_is_sent_on_the_stated_share_of_tasks(demo: dict) -> None:
    tasks, stated = demo["demo"]["tasks"], demo["demo"]["world"]["tasks"]
    judged = [t for t in tasks if t["feedback"] is not None]
    assert len(judged) == stated["feedback"] == round(stated["feedback_share"] * (40 - stated["abandoned"]))
    assert all(t["success"] is not None for t in judged)  # drawn by the arm's true rate, then said
    # whichever way it reached the proxy (by task id, or the last step's request id), the proxy took it
    ran = demo["demo"]["ran"]
    assert ran["feedback_by_task_id"] + ran["feedback_by_request_id"] == len(judged)


def test_where_the_proxy_names_tasks_every_step_has_one_name_and_no_two_tasks_share_it(demo: dict) -> None:
    # Header tasks are named by their own header; the others once the proxy sends `x-routetax-task` on answers.
    owner: dict[str, int] = {}
    for task in demo["demo"]["tasks"]:
        named = [t for t in task["task_ids"] if t is not None]
        assert len(set(named)) <= 1 and len(named) in (0, task["steps"]), task  # no splits
        if task["task_id"] is not None:
            assert owner.setdefault(task["task_id"], task["index"]) == task["index"], task  # no merges


def test_the_report_counts_every_task_the_demo_ran_open_or_not_with_the_feedback_it_sent(demo: dict) -> None:
    """The demo reports as soon as its last answer is metered: its tasks are still open, and count as they stand."""
    tasks, stated, ran = demo["measured"]["tasks"], demo["demo"]["world"]["tasks"], demo["demo"]["ran"]
    assert tasks["tasks"] == 40
    judged = sum(c["judged_tasks"] for c in tasks["cells"])
    said = sum(sum(c["outcomes"]["feedback"].values()) for c in tasks["cells"])
    assert judged == said == stated["feedback"]
    successes = sum(c["outcomes"]["feedback"]["success"] for c in tasks["cells"])
    fed_back = [t for t in demo["demo"]["tasks"] if t.get("feedback")]
    assert successes == sum(1 for t in fed_back if t["success"])
    assert demo["verdict"]["cheapest"] in {*tasks["policies"], "undecided"}
    assert ran["tasks"] == 40
