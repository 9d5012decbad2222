"""DeepEval: judges of an agent's finished run — task completion over its tool calls, and a G-Eval rubric.

The judge reads a trajectory (the task, the tools called with their outputs, the final answer) and scores it;
its verdict goes to a test report, not back to the agent (single-turn), however agent-like the text it reads.
"""

from __future__ import annotations

import json
import os

from _common import offline_tokenizers, run, session
from _tasks import OPS_TASKS

offline_tokenizers()
os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "YES")
from deepeval.metrics import GEval, TaskCompletionMetric  # noqa: E402
from deepeval.models import GPTModel  # noqa: E402
from deepeval.test_case import LLMTestCase, LLMTestCaseParams, ToolCall  # noqa: E402

TASKS = OPS_TASKS


def case(question: str, tool: str, args: dict[str, str]) -> LLMTestCase:
    return LLMTestCase(
        input=question,
        actual_output="It is -3C with snow; gloves are a good idea."
        if tool == "get_weather"
        else "Open, owned by Dana.",
        tools_called=[
            ToolCall(name=tool, input_parameters=args, output="-3C, snow" if tool == "get_weather" else "open")
        ],
    )


def model(url: str) -> GPTModel:
    return GPTModel(model="gpt-4o-mini", base_url=url, api_key="sk-capture")


def task_completion(url: str, question: str, tool: str, args: dict[str, str]) -> None:
    TaskCompletionMetric(model=model(url), async_mode=False).measure(case(question, tool, args))


def rubric(url: str, question: str, tool: str, args: dict[str, str]) -> None:
    metric = GEval(
        name="Helpfulness",
        criteria="Did the agent's final answer use its tool results and answer the question?",
        evaluation_params=[LLMTestCaseParams.INPUT, LLMTestCaseParams.ACTUAL_OUTPUT],
        model=model(url),
        async_mode=False,
    )
    metric.measure(case(question, tool, args))


def main() -> None:
    for t, (question, tool, args) in enumerate(TASKS):
        run(
            session("task_completion_judge", "single_turn", t),
            [
                {"text": json.dumps({"task": question, "outcome": "The agent looked it up and answered."})},
                {"text": json.dumps({"verdict": 1, "reason": "The task was completed."})},
            ],
            lambda url, q=question, n=tool, a=args: task_completion(url, q, n, a),
        )
        run(
            session("g_eval_rubric", "single_turn", t),
            [
                {"text": json.dumps({"steps": ["Read the question.", "Check the answer uses the results."]})},
                {"text": json.dumps({"score": 9, "reason": "Uses the tool result."})},
            ],
            lambda url, q=question, n=tool, a=args: rubric(url, q, n, a),
        )


if __name__ == "__main__":
    main()
