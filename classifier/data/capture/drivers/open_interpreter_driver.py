"""Open Interpreter: the model writes code, the interpreter runs it and sends the output back, until done.

Captured with function calling (its `execute` tool; agentic). Its text mode (markdown code blocks parsed out
of the stream) stalled against the capturing server after the first request and is not captured.
"""

from __future__ import annotations

import os

from _common import offline_tokenizers, run, session

offline_tokenizers()
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TASKS = [
    "How many files are in the current directory?",
    "Print today's date.",
    "What is the current working directory?",
    "Show the first line of /etc/hostname.",
    "Count the lines in /etc/passwd.",
    "Which user am I running as?",
]
COMMANDS = ["ls | wc -l", "date +%F", "pwd", "head -1 /etc/hostname", "wc -l < /etc/passwd", "whoami"]


def interpreter_run(url: str, task: str) -> None:
    from interpreter import OpenInterpreter

    oi = OpenInterpreter(auto_run=True, offline=True, safe_mode="off")
    oi.llm.model = "openai/gpt-4o-mini"
    oi.llm.api_base = url
    oi.llm.api_key = "sk-capture"
    oi.llm.supports_functions = True
    oi.llm.context_window = 128000
    oi.llm.max_tokens = 1000
    oi.chat(task, display=False)


def main() -> None:
    for t, (task, command) in enumerate(zip(TASKS, COMMANDS, strict=True)):
        run(
            session("execute_tool", "agentic", t),
            [{"tool": "execute", "args": {"language": "shell", "code": command}}, {"text": "That is the answer."}],
            lambda url, k=task: interpreter_run(url, k),
        )


if __name__ == "__main__":
    main()
