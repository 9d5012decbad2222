"""Each rule's confidence: what it earns on styles it has not seen. Generated; do not edit.

Regenerate with `python -m classifier.calibrate`. Measured on:
- routetax-corpus.jsonl
- framework-captures.jsonl
- framework-shaped.jsonl
"""

PRIOR_STRENGTH = 8  # styles' worth of prior evidence, fitted leave-one-framework-out
DEFAULT_CONFIDENCE = 0.85  # a rule never measured
CONFIDENCE: dict[str, float] = {
    "header_override": 1.0,  # the client said so
    "unparseable": 0.55,  # not measured: below the default policy.min_confidence on purpose
    "builtin_tools": 0.991,  # right 14 of 14 in 1 styles
    "forced_function": 0.995,  # right 65 of 65 in 7 styles
    "forced_step": 0.993,  # right 22 of 22 in 3 styles
    "last_user:loop_internal": 0.867,  # right 1 of 1 in 1 styles
    "loop:code_execution_loop": 0.914,  # right 63 of 63 in 6 styles
    "loop:command_protocol": 0.914,  # right 36 of 36 in 6 styles
    "loop:react_protocol": 0.914,  # right 54 of 54 in 6 styles
    "multi_agent_chat": 0.993,  # right 10 of 10 in 3 styles
    "no_agentic_signal": 0.968,  # right 240 of 240 in 29 styles
    "no_agentic_signal:agent_words": 0.929,  # right 33 of 33 in 9 styles
    "quoted_protocol": 0.929,  # right 35 of 35 in 9 styles
    "schema_tools": 0.867,  # right 1 of 1 in 1 styles
    "structured_output": 0.914,  # right 78 of 78 in 6 styles
    "structured_output:agent_words": 0.867,  # right 1 of 1 in 1 styles
    "system:action_grammar": 0.92,  # right 13 of 13 in 7 styles
    "system:code_execution_loop": 0.88,  # right 14 of 14 in 2 styles
    "system:command_protocol": 0.929,  # right 112 of 112 in 9 styles
    "system:loop_internal": 0.9,  # right 13 of 13 in 4 styles
    "system:react_protocol": 0.891,  # right 34 of 34 in 3 styles
    "tool_choice_none": 0.992,  # right 23 of 23 in 2 styles
    "tool_history": 0.995,  # right 200 of 200 in 9 styles
    "tools_declared": 0.995,  # right 153 of 153 in 9 styles
    "user_task:action_grammar": 0.88,  # right 3 of 3 in 2 styles
    "user_task:command_protocol": 0.88,  # right 7 of 7 in 2 styles
    "user_task:loop_internal": 0.88,  # right 2 of 2 in 2 styles
    "user_template:action_grammar": 0.867,  # right 4 of 4 in 1 styles
    "user_template:command_protocol": 0.891,  # right 12 of 12 in 3 styles
    "user_template:loop_internal": 0.88,  # right 4 of 4 in 2 styles
}
