"""Builds `routetax-corpus.jsonl`: labelled requests written for routetax, every rule and hard case.

Run `python classifier/data/build_corpus.py` to regenerate (deterministic). Each family
of requests is a `source`, so the evaluation reports accuracy per rule and per hard case.
The label follows the definition in docs/classifier.md, never the classifier's output.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("routetax-corpus.jsonl")
rng = random.Random(20261122)

TOOLS = {
    "get_weather": ("Current weather for a city.", {"city": "string", "unit": "string"}),
    "search_orders": ("Search a customer's orders.", {"customer_id": "string", "status": "string"}),
    "refund_order": ("Refund one order.", {"order_id": "string", "amount": "number"}),
    "create_ticket": ("Open a support ticket.", {"title": "string", "priority": "string"}),
    "run_sql": ("Run a read-only SQL query on the analytics warehouse.", {"query": "string"}),
    "send_email": ("Send an email.", {"to": "string", "subject": "string", "body": "string"}),
    "book_meeting": ("Book a meeting room.", {"room": "string", "start": "string", "minutes": "integer"}),
    "lookup_stock": ("Latest price of a stock ticker.", {"symbol": "string"}),
    "translate_text": ("Translate text with the company glossary.", {"text": "string", "target": "string"}),
    "read_file": ("Read a file from the repository.", {"path": "string"}),
    "write_file": ("Write a file in the repository.", {"path": "string", "content": "string"}),
    "list_directory": ("List a directory of the repository.", {"path": "string"}),
    "http_get": ("Fetch a URL.", {"url": "string"}),
    "kubectl": ("Run a read-only kubectl command.", {"args": "string"}),
    "calendar_events": ("List calendar events in a range.", {"start": "string", "end": "string"}),
    "convert_currency": (
        "Convert an amount between currencies.",
        {"amount": "number", "from": "string", "to": "string"},
    ),
    "geocode": ("Coordinates of an address.", {"address": "string"}),
    "extract_entities": ("Return the entities found in a text.", {"people": "array", "companies": "array"}),
    "classify_ticket": ("Return the category of a ticket.", {"category": "string", "urgency": "string"}),
    "score_lead": ("Return a lead score.", {"score": "integer", "reason": "string"}),
}
TASKS = [
    ("get_weather", "What's the weather like in Lisbon right now?", {"city": "Lisbon"}),
    ("get_weather", "Do I need an umbrella in Osaka today?", {"city": "Osaka"}),
    ("search_orders", "Customer C-1042 says order 7 never arrived. Check it.", {"customer_id": "C-1042"}),
    ("refund_order", "Refund order 88121, the item came broken.", {"order_id": "88121"}),
    (
        "create_ticket",
        "The VPN drops every 10 minutes since this morning, please open a ticket.",
        {"title": "VPN drops"},
    ),
    ("run_sql", "How many orders did we ship in March by region?", {"query": "select region, count(*) from orders"}),
    ("send_email", "Email Dana that the release moved to Friday.", {"to": "dana@example.com"}),
    ("book_meeting", "Book the Atlas room tomorrow at 10 for an hour.", {"room": "Atlas"}),
    ("lookup_stock", "What's NVDA trading at?", {"symbol": "NVDA"}),
    ("read_file", "Open src/router/app.py and tell me what the readiness check does.", {"path": "src/router/app.py"}),
    ("list_directory", "What's inside the deploy folder?", {"path": "deploy"}),
    ("http_get", "Check whether status.example.com reports an outage.", {"url": "https://status.example.com"}),
    ("kubectl", "Why is the payments pod restarting?", {"args": "describe pod payments-7f9"}),
    ("calendar_events", "What do I have on Thursday?", {"start": "2026-11-26", "end": "2026-11-27"}),
    ("convert_currency", "How much is 250 GBP in yen?", {"amount": 250, "from": "GBP", "to": "JPY"}),
    ("geocode", "Where exactly is 10 Downing Street on a map?", {"address": "10 Downing Street"}),
    ("write_file", "Add a CHANGELOG entry for 0.3.1 saying we fixed the spool replay.", {"path": "CHANGELOG.md"}),
    ("translate_text", "Translate our refund policy paragraph into German using the glossary.", {"target": "de"}),
]
SYSTEMS = [
    "You are a helpful assistant.",
    "You are the support assistant of Acme Cloud. Be concise.",
    "You are an operations copilot for the platform team.",
    "Tu es un assistant qui répond en français.",
    "You help finance analysts with quick answers.",
    None,
]
QUESTIONS = [
    "What is the difference between a process and a thread?",
    "Explain what a p99 latency is to a product manager.",
    "Why is the sky blue?",
    "What are the trade-offs between Redis streams and Kafka?",
    "How does prompt caching reduce LLM costs?",
    "Give me three ideas for a team offsite in Lisbon.",
    "¿Cuál es la capital de Australia?",
    "What does HTTP status 429 mean?",
    "Is 2027 a leap year?",
    "What is a circuit breaker in distributed systems?",
    "Summarise the causes of the 2008 financial crisis in two sentences.",
    "Was ist der Unterschied zwischen TCP und UDP?",
    "Explain Kubernetes readiness versus liveness probes.",
    "How many tokens is a typical English word?",
    "Write a limerick about a flaky integration test.",
    "What's a good name for a cat that likes boxes?",
]
SINGLE_TASKS = [
    (
        "classification",
        "Classify this review as positive, negative or neutral: 'Setup took five minutes and it just works.'",
    ),
    ("classification", "Is this email spam? 'You have won a free cruise, click here to claim.' Answer yes or no."),
    (
        "classification",
        "Label the intent of: 'I want to cancel my subscription before renewal.' Options: billing, cancel, technical.",
    ),
    (
        "extraction",
        "Extract the invoice number, date and total from: 'Invoice INV-2291 dated 3 March 2026, total EUR 412.50.'",
    ),
    ("extraction", "Pull every email address out of this text: 'Contact ana@acme.io or ops@acme.io for access.'"),
    ("extraction", "List the people and companies mentioned: 'Maria Lopez left Globex to join Initech as CTO.'"),
    (
        "ranking",
        "Rank these titles by relevance to 'kubernetes autoscaling': A) HPA basics B) Baking bread C) KEDA scalers.",
    ),
    ("ranking", "Order these tasks by urgency: fix prod outage, update wiki, reply to recruiter."),
    (
        "summarisation",
        "Summarise this paragraph in one sentence: Our quarterly revenue grew 12% while costs stayed flat, driven by the new enterprise plan and lower churn in Europe.",
    ),
    (
        "summarisation",
        "TL;DR this incident: at 09:12 the cache cluster failed over, latency rose to 2 s for 6 minutes, no data was lost.",
    ),
    ("translation", "Translate to Spanish: 'The meeting is moved to Thursday afternoon.'"),
    ("translation", "Translate into Japanese: 'Thank you for your patience while we fix the issue.'"),
    ("rewrite", "Rewrite this sentence to sound more polite: 'Send me the report now.'"),
    ("math", "Calculate the compound interest on 10,000 at 4% for 3 years, compounded yearly."),
]
CODEGEN = [
    "Write a Python function that checks whether a string is a palindrome.",
    "Write a SQL query returning the top 5 customers by revenue in 2025.",
    "Give me a bash one-liner that counts lines in all .py files.",
    "Implement binary search in Go.",
    "Write a React component that shows a countdown timer.",
    "Convert this JavaScript to TypeScript: function add(a, b) { return a + b }",
    "Write a Dockerfile for a FastAPI app on Python 3.11.",
    "Write a regular expression matching ISO-8601 dates.",
]


def tool_spec(name: str) -> dict[str, Any]:
    description, params = TOOLS[name]
    properties = {k: {"type": v} for k, v in params.items()}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(params)[:1]},
        },
    }


def tool_set(name: str, extra: int) -> list[dict[str, Any]]:
    others = [t for t in TOOLS if t != name]
    return [tool_spec(name)] + [tool_spec(t) for t in rng.sample(others, extra)]


def messages(user: str, system: str | None = None) -> list[dict[str, Any]]:
    out = []
    if system:
        out.append({"role": rng.choice(["system", "developer"]) if rng.random() < 0.2 else "system", "content": system})
    out.append({"role": "user", "content": user})
    return out


rows: list[dict[str, Any]] = []


def add(source: str, label: str, request: dict[str, Any], api: str = "chat") -> None:
    request = {"model": "auto", **request}
    rows.append(
        {
            "id": f"{source.split('/')[1]}-{sum(r['source'] == source for r in rows) + 1:03d}",
            "api": api,
            "label": label,
            "source": source,
            "request": request,
        }
    )


# --- chat, agentic, structural -----------------------------------------------------------------
for tool, task, _args in TASKS:
    for choice in (None, "auto", "required"):
        body: dict[str, Any] = {
            "messages": messages(task, rng.choice(SYSTEMS)),
            "tools": tool_set(tool, rng.randint(0, 4)),
        }
        if choice:
            body["tool_choice"] = choice
        if rng.random() < 0.3:
            body["parallel_tool_calls"] = rng.random() < 0.5
        if choice == "required" and len(body["tools"]) == 1:
            # exactly one tool that must be called, no history: a forced extraction (label definition)
            add("routetax/required_single_tool", "single_turn", body)
        else:
            add("routetax/tools_offered", "agentic", body)

for i, (tool, task, args) in enumerate(TASKS):
    call_id = f"call_{i:04d}ab"
    history = messages(task, rng.choice(SYSTEMS)) + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"ok": True, "data": "result " + str(i)})},
    ]
    add("routetax/tool_history", "agentic", {"messages": history, "tools": tool_set(tool, 1)})
    add("routetax/tool_history", "agentic", {"messages": history})  # no tools on this step: still a loop
    add("routetax/tool_history", "agentic", {"messages": history, "tools": tool_set(tool, 0), "tool_choice": "none"})
    forced = {"type": "function", "function": {"name": tool}}
    add("routetax/tool_history", "agentic", {"messages": history, "tools": tool_set(tool, 0), "tool_choice": forced})

for tool, task, args in TASKS[:10]:
    spec = tool_spec(tool)["function"]
    add("routetax/legacy_functions", "agentic", {"messages": messages(task), "functions": [spec]})
    add(
        "routetax/legacy_functions",
        "agentic",
        {"messages": messages(task), "functions": [spec], "function_call": "auto"},
    )
    legacy_history = messages(task) + [
        {"role": "assistant", "content": None, "function_call": {"name": tool, "arguments": json.dumps(args)}},
        {"role": "function", "name": tool, "content": '{"status": "done"}'},
    ]
    add("routetax/legacy_functions", "agentic", {"messages": legacy_history})

# --- chat, agentic, text protocols ---------------------------------------------------------------
REACT_SYSTEM = """Answer the following questions as best you can. You have access to the following tools:

{tools}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question"""

for tool, task, args in TASKS:
    names = [tool] + rng.sample([t for t in TOOLS if t != tool], 2)
    tools_text = "\n".join(f"{n}: {TOOLS[n][0]}" for n in names)
    system = REACT_SYSTEM.format(tools=tools_text, names=", ".join(names))
    add(
        "routetax/react",
        "agentic",
        {"messages": [{"role": "system", "content": system}, {"role": "user", "content": f"Question: {task}"}]},
    )
    running = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Question: {task}"},
        {
            "role": "assistant",
            "content": f"Thought: I should use {tool}.\nAction: {tool}\nAction Input: {json.dumps(args)}",
        },
        {"role": "user", "content": f'Observation: {{"ok": true, "value": {rng.randint(1, 99)}}}'},
    ]
    add("routetax/react", "agentic", {"messages": running})
    # the LangChain template sent as one user turn, scratchpad open
    template = system + f"\n\nBegin!\n\nQuestion: {task}\nThought:"
    add("routetax/react", "agentic", {"messages": [{"role": "user", "content": template}]})

JSON_ACTION_SYSTEMS = [
    "You are an agent that operates the {domain} back office. You have access to the following tools: {names}. "
    'Respond with a single JSON object of the form {{"action": "<tool name>", "action_input": {{...}}}} and nothing else. '
    'The result of each action will be returned to you as the next message, starting with "Observation:". '
    'When you are done, respond with {{"action": "final_answer", "action_input": "<answer>"}}.',
    "You control a {domain} assistant. Available commands: {names}, finish. Each reply must contain exactly one command "
    'as JSON: {{"command": {{"name": "...", "args": {{...}}}}, "thoughts": "..."}}. Commands will be executed and their '
    "output returned to you.",
]
DOMAINS = ["billing", "logistics", "HR", "travel", "customer support", "analytics", "DevOps", "recruiting"]
for i, (tool, task, args) in enumerate(TASKS):
    names = ", ".join([tool] + rng.sample([t for t in TOOLS if t != tool], 2))
    system = JSON_ACTION_SYSTEMS[i % 2].format(domain=rng.choice(DOMAINS), names=names)
    add(
        "routetax/json_action",
        "agentic",
        {"messages": [{"role": "system", "content": system}, {"role": "user", "content": task}]},
    )
    if i % 2 == 0:
        step = json.dumps({"action": tool, "action_input": args})
        reply = "Observation: " + json.dumps({"status": "ok", "rows": rng.randint(0, 40)})
    else:
        step = json.dumps({"command": {"name": tool, "args": args}, "thoughts": "need data first"})
        reply = "Result: " + json.dumps({"status": "ok"})
    add(
        "routetax/json_action",
        "agentic",
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": task},
                {"role": "assistant", "content": step},
                {"role": "user", "content": reply},
            ]
        },
    )

SHELL_SYSTEM = (
    "You are an autonomous software engineer working in a Linux sandbox on the repository {repo}. "
    "To act, reply with exactly one shell command in a ```bash block. The command will be executed and "
    "its output (stdout, stderr and exit code) will be returned to you. Say DONE when the task is complete."
)
SHELL_TASKS = [
    (
        "payments-api",
        "The unit tests in tests/test_refunds.py fail since yesterday. Find out why and fix it.",
        "pytest -x tests/test_refunds.py",
    ),
    ("web-frontend", "Upgrade the lodash dependency and make sure the build still passes.", "npm ls lodash"),
    ("infra", "Find which Terraform module defines the prod VPC.", "grep -rn 'prod_vpc' modules/"),
    (
        "ml-pipeline",
        "The nightly job runs out of memory. Find the largest dataframe loaded.",
        "grep -rn 'read_parquet' src/",
    ),
    ("docs-site", "Fix the broken links reported by the link checker.", "make linkcheck"),
    ("auth-service", "Rotate the JWT signing key config in staging.", "ls config/staging"),
    ("billing-batch", "Why does the cron job skip the 31st of the month?", "crontab -l"),
    ("search", "Reindex script crashes on empty documents; reproduce it.", "python scripts/reindex.py --dry-run"),
]
for repo, task, command in SHELL_TASKS:
    system = SHELL_SYSTEM.format(repo=repo)
    add(
        "routetax/shell_agent",
        "agentic",
        {"messages": [{"role": "system", "content": system}, {"role": "user", "content": task}]},
    )
    add(
        "routetax/shell_agent",
        "agentic",
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": task},
                {"role": "assistant", "content": f"Let me look first.\n```bash\n{command}\n```"},
                {"role": "user", "content": f"Output:\n{repo}: 3 files changed\nexit code: {rng.choice([0, 1, 2])}"},
            ]
        },
    )

CODE_TASKS = [
    "What is the mean and standard deviation of this column: 3, 7, 8, 12, 15?",
    "Load sales.csv and tell me which month had the highest revenue.",
    "Plot the distribution of session lengths in sessions.parquet.",
    "Find the prime factors of 600851475143.",
    "How many rows in users.csv have an empty email?",
    "Fit a linear trend to the weekly signups and forecast next week.",
    "Compute the checksum of every file in ./data and list duplicates.",
    "Which of these URLs return 404? (see urls.txt)",
]
CODE_SYSTEMS = [
    "You are a data analyst with a Python interpreter. Write code in ```python blocks; I will run it and reply with the output.",
    "You can execute Python. Put code in ```python fences. The code you write will be executed and the output returned to you.",
]
for i, task in enumerate(CODE_TASKS):
    system = CODE_SYSTEMS[i % 2]
    code = "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.describe())"
    outputs = [
        f"Output:\n      revenue\ncount   {rng.randint(10, 99)}",
        'Traceback (most recent call last):\n  File "<stdin>", line 2\nFileNotFoundError: sales.csv',
        f"Execution result:\n{rng.randint(1, 1000)}",
    ]
    add(
        "routetax/code_execution",
        "agentic",
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": task},
                {"role": "assistant", "content": f"Let me compute it.\n```python\n{code}\n```"},
                {"role": "user", "content": outputs[i % 3]},
            ]
        },
    )
    # no system prompt at all: the loop is visible in the conversation itself
    add(
        "routetax/code_execution",
        "agentic",
        {
            "messages": [
                {"role": "user", "content": task},
                {"role": "assistant", "content": f"```python\n{code}\n```"},
                {"role": "user", "content": outputs[(i + 1) % 3]},
            ]
        },
    )

HERMES = (
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. "
    "You may call one or more functions to assist with the user query. Here are the available tools: <tools>{tools}</tools> "
    "For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags."
)
for tool, task, _args in TASKS[:12]:
    system = HERMES.format(tools=json.dumps([tool_spec(tool)]))
    add(
        "routetax/tool_tags",
        "agentic",
        {"messages": [{"role": "system", "content": system}, {"role": "user", "content": task}]},
    )

# --- chat, single-turn --------------------------------------------------------------------------
for question in QUESTIONS:
    add("routetax/questions", "single_turn", {"messages": messages(question, rng.choice(SYSTEMS))})
    if rng.random() < 0.5:
        add(
            "routetax/questions", "single_turn", {"messages": messages(question), "temperature": 0.2, "max_tokens": 300}
        )
for kind, task in SINGLE_TASKS:
    add(f"routetax/{kind}", "single_turn", {"messages": messages(task, rng.choice(SYSTEMS))})
    add(
        f"routetax/{kind}", "single_turn", {"messages": [{"role": "user", "content": [{"type": "text", "text": task}]}]}
    )
for task in CODEGEN:
    add("routetax/codegen", "single_turn", {"messages": messages(task, "You are a senior engineer. Answer with code.")})
    add("routetax/codegen", "single_turn", {"messages": messages(task)})

CHAT_FOLLOWUPS = [
    (
        "Write a Python function to flatten a nested list.",
        "```python\ndef flatten(xs):\n    return [y for x in xs for y in (flatten(x) if isinstance(x, list) else [x])]\n```",
        "Nice. Can you make it iterative instead of recursive?",
    ),
    (
        "Draft a tweet announcing our new pricing page.",
        "Our new pricing page is live: simpler plans, no surprises.",
        "Make it more playful and add an emoji.",
    ),
    (
        "What's a good structure for a postmortem?",
        "Summary, impact, timeline, root cause, action items.",
        "Expand the timeline section with an example.",
    ),
    ("Explain big-O of quicksort.", "Average O(n log n), worst O(n^2).", "Why is the worst case quadratic?"),
    (
        "Give me a SQL query for monthly active users.",
        "```sql\nselect date_trunc('month', ts), count(distinct user_id) from events group by 1\n```",
        "Thanks! How do I exclude internal users?",
    ),
    ("Suggest a name for our routing product.", "How about 'routetax'?", "I like it. Write a one-line tagline."),
    ("Translate 'good morning' into Italian.", "Buongiorno.", "And into Portuguese?"),
    (
        "Write a bash loop over files.",
        '```bash\nfor f in *.txt; do echo "$f"; done\n```',
        "It printed nothing, what could be wrong?",
    ),
]
for first, answer, follow in CHAT_FOLLOWUPS:
    convo = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": follow},
    ]
    add("routetax/multi_turn_chat", "single_turn", {"messages": convo})
    add(
        "routetax/multi_turn_chat",
        "single_turn",
        {"messages": [{"role": "system", "content": rng.choice(SYSTEMS[:5])}] + convo},
    )

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "result",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
            "required": ["label", "score"],
            "additionalProperties": False,
        },
    },
}
for _kind, task in SINGLE_TASKS:
    add("routetax/structured_output", "single_turn", {"messages": messages(task), "response_format": SCHEMA})
add(
    "routetax/structured_output",
    "single_turn",
    {"messages": messages("List three colours as JSON."), "response_format": {"type": "json_object"}},
)

for tool in ("extract_entities", "classify_ticket", "score_lead", "get_weather", "search_orders", "translate_text"):
    text = rng.choice([t for _k, t in SINGLE_TASKS])
    add(
        "routetax/forced_function",
        "single_turn",
        {
            "messages": messages(text),
            "tools": [tool_spec(tool)],
            "tool_choice": {"type": "function", "function": {"name": tool}},
        },
    )
    add(
        "routetax/forced_step",  # a forced function offered alongside other tools: an agent's step
        "agentic",
        {
            "messages": messages(text),
            "tools": tool_set(tool, 2),
            "tool_choice": {"type": "function", "function": {"name": tool}},
        },
    )
    add(
        "routetax/forced_function",
        "single_turn",
        {"messages": messages(text), "functions": [tool_spec(tool)["function"]], "function_call": {"name": tool}},
    )
for tool, task, _args in TASKS[:12]:
    add(
        "routetax/tool_choice_none",
        "single_turn",
        {"messages": messages(task), "tools": tool_set(tool, 1), "tool_choice": "none"},
    )
    if rng.random() < 0.4:
        add(
            "routetax/tool_choice_none",
            "single_turn",
            {"messages": messages(task), "functions": [tool_spec(tool)["function"]], "function_call": "none"},
        )

WORDS = [
    "Our travel agent booked the wrong flight and the airline says we must take action within 24 hours. What are my options?",
    "Ticket #4411: the agent dashboard shows 'Action required' for every customer since the update. Please triage.",
    "Write a job description for a customer support agent at a fintech startup.",
    "Explain the ReAct prompting technique (Thought, Action, Observation) in simple terms.",
    "What is an AI agent, and how is it different from a chatbot?",
    "Our real-estate agent wants a 3% commission; is that normal in Portugal?",
    "Summarise the main action items from this meeting: ship v2, hire an SRE, move standup to 10.",
    "Compare LangChain agents with plain function calling for a blog post.",
    "Translate 'The agent will call you back' into German.",
    "The API returns 'tool_use' blocks sometimes; what does that mean in Anthropic's API?",
]
for text in WORDS:
    add("routetax/words_not_structure", "single_turn", {"messages": messages(text, rng.choice(SYSTEMS))})
PASTED_LOGS = [
    'Thought: I need the order status.\nAction: search_orders\nAction Input: {"customer_id": "C-9"}\nObservation: 2 open orders\nThought: I now know the final answer\nFinal Answer: two open orders',
    "Thought: check disk\nAction: kubectl\nAction Input: get pods\nObservation: CrashLoopBackOff\nThought: the pod is crashing\nFinal Answer: restart it",
    '{"action": "run_sql", "action_input": {"query": "select 1"}}\nObservation: 1 row\n{"action": "final_answer", "action_input": "done"}',
]
for log in PASTED_LOGS:
    for ask in (
        "Summarise what this agent did in two sentences:\n\n{log}",
        "Our agent produced this trace. Did it make a mistake?\n---\n{log}\n---",
        "Translate this agent log into plain English for a customer:\n{log}",
    ):
        add(
            "routetax/pasted_agent_log", "single_turn", {"messages": messages(ask.format(log=log), rng.choice(SYSTEMS))}
        )

# --- responses API ------------------------------------------------------------------------------
BUILTINS = [
    {"type": "web_search"},
    {"type": "web_search_preview"},
    {"type": "file_search", "vector_store_ids": ["vs_123"]},
    {"type": "code_interpreter", "container": {"type": "auto"}},
    {"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"},
    {
        "type": "mcp",
        "server_label": "deepwiki",
        "server_url": "https://mcp.example.com/sse",
        "require_approval": "never",
    },
    {"type": "image_generation"},
]


def flat_tool(name: str) -> dict[str, Any]:
    spec = tool_spec(name)["function"]
    return {"type": "function", "name": name, "description": spec["description"], "parameters": spec["parameters"]}


for tool, task, _args in TASKS[:12]:
    add("routetax/responses_function_tools", "agentic", {"input": task, "tools": [flat_tool(tool)]}, api="responses")
    add(
        "routetax/responses_required_single_tool",
        "single_turn",
        {
            "input": [{"role": "user", "content": task}],
            "tools": [flat_tool(tool)],
            "tool_choice": "required",
            "instructions": rng.choice(SYSTEMS[:5]),
        },
        api="responses",
    )
for builtin in BUILTINS:
    for question in rng.sample(QUESTIONS, 2):
        add("routetax/responses_builtin_tools", "agentic", {"input": question, "tools": [builtin]}, api="responses")
for i, (tool, task, args) in enumerate(TASKS[:12]):
    items = [
        {"role": "user", "content": task},
        {"type": "function_call", "call_id": f"call_{i}", "name": tool, "arguments": json.dumps(args)},
        {"type": "function_call_output", "call_id": f"call_{i}", "output": '{"ok": true}'},
    ]
    add("routetax/responses_history", "agentic", {"input": items, "tools": [flat_tool(tool)]}, api="responses")
    add(
        "routetax/responses_history",
        "agentic",
        {"previous_response_id": f"resp_{i:04d}", "input": [items[-1]]},
        api="responses",
    )
for kind in ("computer_call_output", "mcp_call", "local_shell_call_output"):
    add(
        "routetax/responses_history",
        "agentic",
        {"input": [{"type": kind, "call_id": "c1", "output": {}}]},
        api="responses",
    )
for question in QUESTIONS:
    add("routetax/responses_single", "single_turn", {"input": question}, api="responses")
for _kind, task in SINGLE_TASKS:
    add(
        "routetax/responses_single",
        "single_turn",
        {
            "input": [{"role": "user", "content": [{"type": "input_text", "text": task}]}],
            "instructions": rng.choice(SYSTEMS[:5]),
        },
        api="responses",
    )
    add(
        "routetax/responses_structured",
        "single_turn",
        {
            "input": task,
            "text": {"format": {"type": "json_schema", "name": "r", "schema": SCHEMA["json_schema"]["schema"]}},
        },
        api="responses",
    )
for tool in ("extract_entities", "classify_ticket", "score_lead", "get_weather"):
    add(
        "routetax/responses_forced_function",
        "single_turn",
        {"input": SINGLE_TASKS[2][1], "tools": [flat_tool(tool)], "tool_choice": {"type": "function", "name": tool}},
        api="responses",
    )
    add(
        "routetax/responses_forced_function",
        "single_turn",
        {"input": "Hello there", "tools": [flat_tool(tool)], "tool_choice": "none"},
        api="responses",
    )
for tool, task, _args in TASKS[:8]:
    names = [tool, "lookup_stock"]
    instructions = REACT_SYSTEM.format(tools="\n".join(f"{n}: {TOOLS[n][0]}" for n in names), names=", ".join(names))
    add(
        "routetax/responses_text_protocol",
        "agentic",
        {"instructions": instructions, "input": f"Question: {task}"},
        api="responses",
    )
for log in PASTED_LOGS:
    add(
        "routetax/responses_pasted_log",
        "single_turn",
        {"input": f"Summarise this agent trace:\n{log}"},
        api="responses",
    )


# --- agent frameworks seen in the wild, and instructions that only look like them ---------------
# Written after the rules, as a check that they generalise: real prompts of several agent styles
# (SWE-agent, AutoGPT, Open Interpreter, smolagents, Hermes, Llama tags, ALFWorld, Voyager, SQL and
# shell loops) and system prompts or user turns that use the same words without any loop.
AGENT_TASKS = [
    "The date parser crashes on ISO weeks; fix it.",
    "How many customers signed up in the last 30 days?",
    "Find the largest file under /var/log and tell me what writes it.",
    "Qual è la popolazione di Torino?",
    "Compare the last two releases' p99 latency.",
    "Wie viele offene Tickets hat das Team Zahlungen?",
]
FRAMEWORK_SYSTEMS = {
    "swe_agent": (
        "SETTING: You are an autonomous programmer, and you're working directly in the command line with a special "
        "interface.\n\nThe special interface consists of a file editor that shows you 100 lines of a file at a time.\n"
        "In addition to typical bash commands, you can also use the following commands to help you navigate and edit "
        "files.\n\nCOMMANDS:\nopen:\n  docstring: opens the file at the given path in the editor\n  signature: open "
        "<path> [<line_number>]\n\ngoto:\n  signature: goto <line_number>\n\nedit:\n  signature: edit <start_line>:<end_line>\n"
        "<replacement_text>\nend_of_edit\n\nPlease note that THE EDIT COMMAND REQUIRES PROPER INDENTATION.\n\n"
        "RESPONSE FORMAT:\nYour shell prompt is formatted as follows:\n(Open file: <path>) <cwd> $\n\nYou need to format "
        "your output using two fields; discussion and command."
    ),
    "autogpt": (
        "You are Ops-GPT, an AI designed to autonomously keep the {domain} systems healthy.\nGOALS:\n1. Answer the "
        "user's request\n\nConstraints:\n1. ~4000 word limit for short term memory.\n\nCommands:\n1. Google Search: "
        '"google", args: "input": "<search>"\n2. Read file: "read_file", args: "path": "<path>"\n3. Task Complete: '
        '"task_complete", args: "reason": "<reason>"\n\nYou should only respond in JSON format as described below\n'
        'Response Format:\n{{\n    "thoughts": {{"text": "thought", "plan": "- short bulleted list"}},\n    "command": '
        '{{"name": "command name", "args": {{"arg name": "value"}}}}\n}}\nEnsure the response can be parsed by Python json.loads'
    ),
    "open_interpreter": (
        "You are Open Interpreter, a world-class programmer that can complete any goal by executing code.\nFirst, write "
        "a plan. When you execute code, it will be executed **on the user's machine**. The user has given you **full "
        "and complete permission** to execute any code necessary to complete the task.\nYou can access the internet."
    ),
    "smolagents": (
        "You are an expert assistant who can solve any task using code blobs. You will be given a task to solve as best "
        "you can.\nTo do so, you have been given access to a list of tools: these tools are basically Python functions "
        "which you can call with code.\nTo solve the task, you must plan forward to proceed in a series of steps, in a "
        "cycle of 'Thought:', 'Code:', and 'Observation:' sequences.\nDuring each intermediate step, you can use 'print()' "
        "to save whatever important information you will then need.\nThese print outputs will then appear in the "
        "'Observation:' field, which will be available as input for the next step."
    ),
    "llama_tags": (
        "You have access to the following functions:\n\nUse the function 'query_metrics' to: Query the metrics store\n"
        '{{"name": "query_metrics", "parameters": {{"promql": {{"type": "string"}}}}}}\n\nIf you choose to call a function '
        'ONLY reply in the following format:\n<function=example_function_name>{{"example_name": "example_value"}}</function>'
    ),
    "shell_tag": (
        "You are a Linux terminal assistant for the {domain} team. Reply with exactly one shell command wrapped in "
        "<cmd></cmd>. I will run it and reply with its output. When the task is done reply DONE: <summary>."
    ),
    "web_agent": (
        "You are an autonomous web agent. At each step you receive the page's accessibility tree and must output the "
        "next action as one of: click [id], type [id] [text], scroll [up|down], stop [answer]."
    ),
    "alfworld": (
        "Interact with a household to solve a task. At each turn, you will be given the observation of the environment "
        "and you must output one action from the following list: go to {{recep}}, take {{obj}} from {{recep}}, put {{obj}} "
        "in/on {{recep}}, open {{recep}}, close {{recep}}. Output the action only."
    ),
    "voyager": (
        "You are a helpful assistant that writes Mineflayer javascript code to complete any Minecraft task. At each round "
        "of conversation, I will give you\nCode from the last round: ...\nExecution error: ...\nChat log: ...\n\nYou "
        "should then respond to me with\nExplain: ...\nPlan: ...\nCode:\n```javascript\n// helper functions\n```"
    ),
    "sql_agent": (
        "You are a SQL analyst agent for the {domain} warehouse. Write one PostgreSQL query per reply; I will execute it "
        "against the warehouse and show you the result. Keep going until you can answer, then reply FINAL: <answer>."
    ),
    "email_agent": (
        "You are an email triage agent. Tools: archive(id), label(id, name), reply(id, text). Respond with a single JSON "
        'action {{"tool": ..., "args": {{...}}}}; the result is returned to you as the next user message.'
    ),
    "autogen": (
        "You are a helpful AI assistant. Solve tasks using your coding and language skills. In the following cases, "
        "suggest python code (in a python coding block) or shell script (in a sh coding block) for the user to execute. "
        "The user cannot provide any other feedback or perform any other action beyond executing the code you suggest. "
        "Reply 'TERMINATE' in the end when everything is done."
    ),
    "react_zh": (
        "尽你所能回答以下问题。你可以使用以下工具：\nsearch: 搜索引擎\ncalculator: 计算器\n\n使用以下格式：\nQuestion: 问题\n"
        "Thought: 思考\nAction: 要采取的行动，应为 [search, calculator] 之一\nAction Input: 行动的输入\nObservation: "
        "行动的结果\nFinal Answer: 最终答案"
    ),
}
for i, system in enumerate(FRAMEWORK_SYSTEMS.values()):
    for task in rng.sample(AGENT_TASKS, 3):
        body = {"messages": messages(task, system.format(domain=rng.choice(DOMAINS)))}
        add("routetax/agent_frameworks", "agentic", body)
    instructions = system.format(domain=rng.choice(DOMAINS))
    add(
        "routetax/agent_frameworks",
        "agentic",
        {"instructions": instructions, "input": AGENT_TASKS[i % 6]},
        api="responses",
    )

# running loops whose actions and results travel as plain assistant / user turns
RUNNING = [
    ("```bash\ndf -h\n```", "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        50G   45G  5G  90% /"),
    (
        "```sql\nSELECT region, SUM(revenue) FROM sales GROUP BY 1;\n```",
        " region | sum\n--------+------\n EU     | 1200\n US     | 900\n(2 rows)",
    ),
    (
        '{"action": "search_flights", "args": {"to": "FCO", "date": "2026-12-01"}}',
        '{"results": [{"price": 120, "carrier": "AZ"}]}',
    ),
    (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>',
        '<tool_response>{"temp": 21}</tool_response>',
    ),
    ("<execute>\nimport math\nprint(math.factorial(20))\n</execute>", "Observation:\n2432902008176640000"),
    (
        "Thought: I will search.\nCode:\n```py\nprint(web_search('Paris population'))\n```<end_code>",
        "Observation:\nExecution logs:\n2.1 million\nLast output from code snippet:\nNone",
    ),
    ("```python\nimport pandas as pd\nprint(pd.read_csv('signups.csv').shape)\n```", "(1843, 7)"),
    (
        "Action: wiki\nAction Input: Alien (1979 film)",
        "Observation: Alien is a 1979 science fiction horror film directed by Ridley Scott.",
    ),
    (
        "```bash\nkubectl get pods -n payments\n```",
        "NAME                        READY   STATUS             RESTARTS\npayments-7f9c   0/1     CrashLoopBackOff   12",
    ),
]
for step, result in RUNNING:
    task = rng.choice(AGENT_TASKS)
    convo = [
        {"role": "user", "content": task},
        {"role": "assistant", "content": step},
        {"role": "user", "content": result},
    ]
    add("routetax/running_text_loop", "agentic", {"messages": convo})
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": task}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": step}]},
        {"role": "user", "content": [{"type": "input_text", "text": result}]},
    ]
    add("routetax/running_text_loop", "agentic", {"input": items}, api="responses")
# a whole agent prompt sent as the first user turn, for models without a system role
for task in AGENT_TASKS[:4]:
    template = (
        "You are a shell agent. Reply with exactly one bash command in a ```bash block; its output will be sent back "
        f"to you. Stop with DONE.\n\nTask: {task}"
    )
    add("routetax/user_turn_agent_prompt", "agentic", {"messages": [{"role": "user", "content": template}]})
# tool results in shapes other clients send: Llama's ipython role, Anthropic-style parts, a Responses `tool` message
OTHER_HISTORY = [
    [
        {"role": "user", "content": "What is 2**100?"},
        {"role": "assistant", "content": "<|python_tag|>print(2**100)"},
        {"role": "ipython", "content": "1267650600228229401496703205376"},
    ],
    [
        {"role": "user", "content": "Is the build green?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ci_status", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "green"}]},
    ],
]
for convo in OTHER_HISTORY:
    add("routetax/tool_history_shapes", "agentic", {"messages": convo})
add(
    "routetax/tool_history_shapes",
    "agentic",
    {"input": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c", "content": "ok"}]},
    api="responses",
)

NEAR_MISS_SYSTEMS = [
    (
        "You are a friendly support agent for {domain}. Available actions customers can take in the app include "
        "freezing a card and disputing a charge. Never promise refunds; point customers to the right tool in the app."
    ),
    'Extract the action items from the meeting notes. Respond with a JSON object {{"action_items": [{{"owner": "...", "action": "..."}}]}}.',
    'Classify the user utterance. Reply only with JSON: {{"intent": "...", "action": "book"|"cancel"|"other"}}',
    "You write SQL for {domain} analysts. The query will be executed by the analyst after review. Output only SQL.",
    'You are a customer service classifier. Available actions: refund, escalate, close. Respond with JSON {{"action": "..."}}.',
    "You have access to the following documents:\n[1] Refund policy\n[2] Shipping policy\nAnswer using them and cite.",
    "Translate into Spanish. The output will be shown to users in the app, so respond with the translation only.",
    "You are a text adventure game master. Describe the scene; the player types actions like 'go north' or 'take lamp'.",
    'You are the narrator of a text adventure. After each player command describe the result. Respond in JSON: {{"narration": "..."}}',
    "You are a Python tutor. Explain code step by step and predict what it prints. Use ```python blocks for examples.",
    "You are a shell expert for the {domain} team. Explain the commands the user pastes, flag dangerous flags.",
    "You triage IT tickets into categories: access, hardware, software, network. Reply with the category only.",
    'You are a judge grading an AI agent\'s trajectory. Reply with a JSON object {{"score": 1-10, "reason": "..."}}.',
    "You turn meeting transcripts into action items. Respond with a list; each action: owner, task, due date.",
]
NEAR_MISS_USERS = [
    "How do I freeze my card?",
    "Notes: Dana will ship the fix; Lee to email the customer by Friday.",
    "I need to cancel my booking for tomorrow.",
    "Orders per day in May, by channel?",
    "My parcel is 3 weeks late, I want my money back.",
    "The deploy agent fails with 'action not permitted'; available commands in the CLI all return 403.",
    "Trajectory:\nThought: search\nAction: search[x]\nObservation: nothing\nFinal Answer: unknown",
    "x = [1, 2]\nprint(x * 2)",
    "What does `find . -name '*.py' -exec grep -l TODO {} +` do?",
    "open the door",
]
for system in NEAR_MISS_SYSTEMS:
    for user in rng.sample(NEAR_MISS_USERS, 2):
        add(
            "routetax/near_miss_instructions",
            "single_turn",
            {"messages": messages(user, system.format(domain=rng.choice(DOMAINS)))},
        )
    add(
        "routetax/near_miss_instructions",
        "single_turn",
        {"instructions": system.format(domain=rng.choice(DOMAINS)), "input": rng.choice(NEAR_MISS_USERS)},
        api="responses",
    )

QUOTED_PROMPTS = [
    "Write me a system prompt for a ReAct agent that has a search tool and a calculator. Use the Thought / Action / Action Input / Observation format.",
    "Improve this system prompt for our bot: 'You are a terminal agent. Reply with one bash command; I will run it and send you the output.'",
    "Review this prompt:\n'''You have access to the following tools: search. Use the following format: Thought/Action/Action Input/Observation.'''",
    "Write a Python function that implements a simple ReAct agent loop: it parses 'Action:' and 'Action Input:' lines from the model output, calls the tool, and appends 'Observation:'.",
    "In LangChain, what does the agent_scratchpad variable hold? My prompt ends with 'Thought:{agent_scratchpad}'.",
    "Traduis en français :\nThought: I should look up the weather.\nAction: get_weather\nAction Input: Paris\nObservation: 12°C",
    "Why do I get this?\nTraceback (most recent call last):\n  File \"a.py\", line 3\nKeyError: 'id'",
    "I ran `npm install` and got this:\nnpm ERR! code ERESOLVE\nWhat does it mean?",
    'Our AutoGPT instance keeps answering with {"command": {"name": "google"}} forever. How do I stop the loop?',
    "Explain to a PM what 'the output will be returned to you as an observation' means in agent frameworks.",
]
for text in QUOTED_PROMPTS:
    add("routetax/quoted_prompts", "single_turn", {"messages": messages(text, rng.choice(SYSTEMS))})
    add("routetax/quoted_prompts", "single_turn", {"input": text}, api="responses")

CODE_FOLLOWUPS = [
    (
        "Write a bash one-liner to count files.",
        "```bash\nfind . -type f | wc -l\n```",
        "Great, and how do I exclude .git?",
    ),
    (
        "Give me a haiku about autumn.",
        "```\nautumn moonlight\na worm digs silently\ninto the chestnut\n```",
        "nice, another one please",
    ),
    (
        "SQL for the top 5 customers?",
        "```sql\nSELECT name FROM customers ORDER BY revenue DESC LIMIT 5;\n```",
        "Can you make it per region?",
    ),
    (
        "Regex for an email?",
        "```python\nEMAIL = re.compile(r'[^@]+@[^@]+')\n```",
        "Is that good enough for production, honestly?",
    ),
]
for ask, answer, follow in CODE_FOLLOWUPS:
    convo = [
        {"role": "user", "content": ask},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": follow},
    ]
    add("routetax/code_followups", "single_turn", {"messages": convo})


def main() -> None:
    with OUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    labels = {label: sum(r["label"] == label for r in rows) for label in ("agentic", "single_turn")}
    print(f"wrote {len(rows)} requests to {OUT.name}: {labels}")


if __name__ == "__main__":
    main()
