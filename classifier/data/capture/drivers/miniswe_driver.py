"""mini-swe-agent: a bash agent whose protocol sits in the first user turn; tool-calling and text-based modes, both APIs.

The agent really runs: its commands execute in a scratch directory and their output comes back
as the next observation (`<returncode>` / `<output>`, JSON or a tool result).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import minisweagent
import yaml
from _common import run, session
from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.local import LocalEnvironment
from minisweagent.models import get_model

os.environ.setdefault("MSWEA_COST_TRACKING", "ignore_errors")
CONFIGS = Path(minisweagent.__file__).parent / "config"
TASKS = [
    "The function add() in calc.py returns a-b; fix it so it returns a+b.",
    "Add a --verbose flag to cli.py that prints each processed file.",
    "README.md has a broken link to docs/setup.md; fix the path.",
    "greet.py crashes on an empty name; make it print 'Hello, stranger'.",
    "Rename the helper parse_cfg to parse_config everywhere.",
    "Make tests/test_calc.py pass.",
]
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def text_reply(fence: str, command: str) -> dict:
    return {
        "text": f"THOUGHT: Let me look at the repository first to find the relevant file.\n\n```{fence}\n{command}\n```"
    }


def agent(url: str, config_name: str, model_class: str, task: str) -> None:
    config = yaml.safe_load((CONFIGS / config_name).read_text())
    model_config = dict(config.get("model") or {})
    model_config.update(
        model_class=model_class,
        model_name="openai/gpt-5.4-mini",
        model_kwargs={"api_base": url, "api_key": "sk-capture", "drop_params": True},
    )
    model_config.pop("model_kwargs_extra", None)
    workdir = tempfile.mkdtemp()
    Path(workdir, "calc.py").write_text("def add(a, b):\n    return a - b\n")
    env = LocalEnvironment(cwd=workdir)
    agent_config = {
        k: v for k, v in (config.get("agent") or {}).items() if k not in ("mode", "confirm_exit", "whitelist_actions")
    }
    agent_config["step_limit"] = 4
    DefaultAgent(get_model(config=model_config), env, **agent_config).run(task)


def main() -> None:
    runs = [
        ("toolcall_chat", "default.yaml", "litellm", None),
        ("toolcall_responses", "default.yaml", "litellm_response", None),
        ("textbased", "mini_textbased.yaml", "litellm_textbased", "mswea_bash_command"),
        ("swebench_textbased", "benchmarks/swebench_backticks.yaml", "litellm_textbased", None),
    ]
    for t, task in enumerate(TASKS):
        for scenario, config_name, model_class, fence in runs:
            text = (CONFIGS / config_name).read_text()
            fence = fence or ("mswea_bash_command" if "mswea_bash_command" in text else "bash")
            if model_class == "litellm_textbased":
                replies = [
                    text_reply(fence, "ls -la && cat calc.py"),
                    {"text": "I think I should edit the file now."},
                    text_reply(fence, "sed -i 's/a - b/a + b/' calc.py"),
                    text_reply(fence, SUBMIT),
                ]
            else:
                replies = [
                    {"tool": "bash", "args": {"command": "ls -la && cat calc.py"}},
                    {"tool": "bash", "args": {"command": "sed -i 's/a - b/a + b/' calc.py"}},
                    {"tool": "bash", "args": {"command": SUBMIT}},
                ]
            run(
                session(scenario, "agentic", t),
                replies,
                lambda url, c=config_name, m=model_class, k=task: agent(url, c, m, k),
            )


if __name__ == "__main__":
    main()
