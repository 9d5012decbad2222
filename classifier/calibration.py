"""Each rule's confidence: its measured accuracy on the development corpora. Generated; do not edit.

Regenerate with `python -m classifier.calibrate`. Measured on:
- routetax-corpus.jsonl
- framework-captures.jsonl
- framework-shaped.jsonl
"""

DEFAULT_CONFIDENCE = 0.85  # a rule never measured
CONFIDENCE: dict[str, float] = {
    "header_override": 1.0,  # the client said so
    "unparseable": 0.55,  # not measured: below the default policy.min_confidence on purpose
    "builtin_tools": 0.994,  # right 14 of 14
    "forced_function": 0.998,  # right 65 of 65
    "forced_step": 0.995,  # right 22 of 22
    "loop:code_execution_loop": 0.964,  # right 63 of 63
    "loop:command_protocol": 0.939,  # right 29 of 29
    "loop:react_protocol": 0.953,  # right 44 of 44
    "multi_agent_chat": 0.993,  # right 8 of 8
    "no_agentic_signal": 0.989,  # right 260 of 260
    "quoted_protocol": 0.943,  # right 33 of 33
    "structured_output": 0.969,  # right 77 of 77
    "system:code_execution_loop": 0.906,  # right 12 of 12
    "system:command_protocol": 0.977,  # right 112 of 112
    "system:react_protocol": 0.944,  # right 34 of 34
    "tool_choice_none": 0.995,  # right 23 of 23
    "tool_history": 0.999,  # right 200 of 200
    "tools_declared": 0.999,  # right 153 of 153
    "user_task:command_protocol": 0.889,  # right 7 of 7
    "user_template:command_protocol": 0.906,  # right 12 of 12
}
