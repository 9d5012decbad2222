"""Run real agent frameworks against the capturing server and write the labelled captures.

Each framework lives in its own venv (they pin conflicting versions), never in the project's:

    python3 -m venv ~/.cache/routetax/fw-venvs/light && ~/.cache/routetax/fw-venvs/light/bin/pip install openai-agents ...
    python classifier/data/capture/run.py [--venvs ~/.cache/routetax/fw-venvs]

What each venv holds (the DRIVERS below name them), as installed for the captures; the extras are what the
framework needed at import or run time here, where nothing can be downloaded at run time:
    light: openai-agents smolagents instructor pydantic-ai-slim openai
    lc: langgraph langchain-openai
    lcc: langchain-classic langchain-openai langgraph langchain-community langmem
    autogen: autogen-agentchat autogen-ext[openai]
    ag2: "ag2[openai]<1" (1.x no longer ships `autogen`)
    miniswe: mini-swe-agent    crewai: crewai    aider: aider-chat    dspy: dspy
    llamaindex: llama-index-core llama-index-llms-openai    haystack: haystack-ai    sk: semantic-kernel
    camel: camel-ai "mcp<2" litellm (litellm ships the tiktoken encodings CAMEL counts with)
    qwen: "qwen-agent[python-executor,mcp]" soundfile tqdm    langroid: langroid litellm    agno: agno openai
    interp: open-interpreter "setuptools<81"    llmcli: llm    strands: strands-agents[openai]
    griptape: griptape    atomic (Python 3.12: atomic-agents 2.x needs it): atomic-agents openai
    adk: google-adk litellm    praison: praisonaiagents[llm]    deepeval: deepeval
    nemo: nemoguardrails langchain-openai

For every driver whose venv exists, the server records each request body the framework really
sends (every step of every loop), labelled by the scenario it belongs to (the session name), with
the framework's name and installed version. Sessions are split by task number: every third task
(t % 3 == 2) and every framework in HELDOUT_ONLY go to `framework-captures-heldout.jsonl`, kept out
of development; the rest to `framework-captures.jsonl`. A run with `--only` replaces the rows of the
scenarios it ran and keeps every other row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from server import serve  # noqa: E402

DATA = HERE.parent
# driver module -> (venv name, framework distribution whose version is recorded)
DRIVERS = {
    "openai_agents": ("light", "openai-agents"),
    "smolagents_driver": ("light", "smolagents"),
    "instructor_driver": ("light", "instructor"),
    "pydantic_ai_driver": ("light", "pydantic-ai-slim"),
    "langchain_driver": ("lc", "langgraph"),
    "autogen_driver": ("autogen", "autogen-agentchat"),
    "miniswe_driver": ("miniswe", "mini-swe-agent"),
    "ag2_driver": ("ag2", "ag2"),
    "crewai_driver": ("crewai", "crewai"),
    "aider_driver": ("aider", "aider-chat"),
    "aider_formats_driver": ("aider", "aider-chat"),
    "dspy_driver": ("dspy", "dspy"),
    "langchain_classic_driver": ("lcc", "langchain-classic"),
    "langgraph_plan_driver": ("lcc", "langgraph"),
    "llamaindex_driver": ("llamaindex", "llama-index-core"),
    "autogen_teams_driver": ("autogen", "autogen-agentchat"),
    "ag2_groupchat_driver": ("ag2", "ag2"),
    "camel_driver": ("camel", "camel-ai"),
    "qwen_agent_driver": ("qwen", "qwen-agent"),
    "haystack_driver": ("haystack", "haystack-ai"),
    "semantic_kernel_driver": ("sk", "semantic-kernel"),
    "langroid_driver": ("langroid", "langroid"),
    "agno_driver": ("agno", "agno"),
    "smolagents_teams_driver": ("light", "smolagents"),
    "discord_bot_driver": ("light", "openai"),
    "open_interpreter_driver": ("interp", "open-interpreter"),
    "instructor_parallel_driver": ("light", "instructor"),
    "llamaindex_router_driver": ("llamaindex", "llama-index-core"),
    "langchain_pipelines_driver": ("lcc", "langchain-classic"),
    "langgraph_rewoo_driver": ("lcc", "langgraph"),
    "llm_cli_driver": ("llmcli", "llm"),
    "strands_driver": ("strands", "strands-agents"),
    "langgraph_loops_driver": ("lcc", "langgraph"),
    "griptape_driver": ("griptape", "griptape"),
    "atomic_agents_driver": ("atomic", "atomic-agents"),
    "google_adk_driver": ("adk", "google-adk"),
    "praisonai_driver": ("praison", "praisonaiagents"),
    "deepeval_driver": ("deepeval", "deepeval"),
    "nemo_guardrails_driver": ("nemo", "nemoguardrails"),
}
WEAK_MODEL = "gpt-5.4-nano"  # drivers name it for a framework's single-turn side calls
HELDOUT_ONLY = {
    "crewai",
    "ag2",
    "aider-chat",
}  # whole frameworks captured after the rules were frozen, never looked into before


def version(python: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def rows(raw: Path, versions: dict[str, str]) -> list[dict]:
    out = []
    for line in raw.read_text(encoding="utf-8").splitlines():
        capture = json.loads(line)
        framework, scenario, label, task = capture["session"].split("__")
        if scenario == "unrouted":  # sent to the environment's default base URL, outside any scenario
            print(f"{framework}: a request outside any scenario, not kept", file=sys.stderr)
            continue
        if capture["body"].get("model") == WEAK_MODEL:  # a framework's side call (aider's commit messages)
            scenario, label = "weak_model_call", "single_turn"
        out.append(
            {
                "id": f"{framework}/{scenario}/t{task}/step{capture['step']}",
                "api": capture["api"],
                "label": label,
                "source": f"{framework}/{scenario}",
                "framework": framework,
                "framework_version": versions[framework],
                "captured": "real run against the capturing server",
                "split": "heldout" if int(task) % 3 == 2 or framework in HELDOUT_ONLY else "dev",
                "request": capture["body"],
            }
        )
    return out


def merged(old: list[dict], captured: list[dict], split: str) -> list[dict]:
    """A partial run's rows for one split: the old rows of every scenario it did not run, then its own.

    Keyed on the scenario (`source`), not the framework: a new driver of a framework already captured (aider's
    other edit formats) adds its scenarios without dropping the framework's earlier captures.
    """
    ran = {r["source"] for r in captured}
    return [r for r in old if r["source"] not in ran] + [r for r in captured if r["split"] == split]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache/routetax/fw-venvs")
    parser.add_argument("--only", action="append", help="driver module(s) to run (default: all with a venv)")
    args = parser.parse_args()
    raw = Path(tempfile.mkdtemp()) / "raw.jsonl"
    raw.touch()
    server, _ = serve(raw)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    versions: dict[str, str] = {}
    for module, (venv, dist) in DRIVERS.items():
        python = args.venvs / venv / "bin" / "python"
        if (args.only and module not in args.only) or not python.exists():
            continue
        try:
            versions[dist] = version(python, dist)
        except subprocess.CalledProcessError:
            print(f"{module}: {dist} not installed in {venv}, skipped", file=sys.stderr)
            continue
        env = os.environ | {
            "CAPTURE_URL": url,
            "CAPTURE_FRAMEWORK": dist,
            "OPENAI_API_KEY": "sk-capture",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "OPENAI_BASE_URL": f"{url}/s/{dist}__unrouted__single_turn__0/v1",
        }
        print(f"running {module} ({dist} {versions[dist]})", file=sys.stderr)
        subprocess.run([python, str(HERE / "drivers" / f"{module}.py")], env=env, cwd=tempfile.mkdtemp(), timeout=900)
    server.shutdown()
    captured = rows(raw, versions)
    for split, name in (("dev", "framework-captures.jsonl"), ("heldout", "framework-captures-heldout.jsonl")):
        path = DATA / name
        kept = [r for r in captured if r["split"] == split]
        if args.only and path.exists():
            old = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
            kept = merged(old, captured, split)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        print(f"{path.name}: {len(kept)} requests", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
