"""Each rule's confidence: what it earns on styles it has not seen. Generated; do not edit.

Regenerate with `python -m classifier.calibrate`. Measured on:
- routetax-corpus.jsonl
- framework-captures.jsonl
- framework-shaped.jsonl
"""

PRIOR_STRENGTH = 12  # styles' worth of prior evidence, fitted leave-one-framework-out
DEFAULT_CONFIDENCE = 0.85  # a rule never measured
CONFIDENCE: dict[str, float] = {
    "header_override": 1.0,  # the client said so
    "unparseable": 0.55,  # not measured: below the default policy.min_confidence on purpose
    "builtin_tools": 0.991,  # right 14 of 14 in 1 styles
    "forced_function": 0.994,  # right 69 of 69 in 8 styles
    "forced_step": 0.992,  # right 22 of 22 in 3 styles
    "last_user:loop_internal": 0.862,  # right 1 of 1 in 1 styles
    "loop:code_execution_loop": 0.905,  # right 67 of 67 in 7 styles
    "loop:command_protocol": 0.91,  # right 44 of 44 in 8 styles
    "loop:react_protocol": 0.914,  # right 82 of 82 in 9 styles
    "multi_agent_chat": 0.992,  # right 30 of 30 in 3 styles
    "no_agentic_signal": 0.965,  # right 330 of 334 in 43 styles
    "no_agentic_signal:agent_words": 0.928,  # right 53 of 53 in 13 styles
    "quoted_protocol": 0.914,  # right 35 of 35 in 9 styles
    "schema_action_step": 0.991,  # right 8 of 8 in 1 styles
    "schema_tools": 0.871,  # right 5 of 5 in 2 styles
    "structured_output": 0.9,  # right 78 of 78 in 6 styles
    "structured_output:agent_words": 0.871,  # right 13 of 13 in 2 styles
    "system:action_grammar": 0.918,  # right 53 of 53 in 10 styles
    "system:code_execution_loop": 0.871,  # right 14 of 14 in 2 styles
    "system:command_protocol": 0.918,  # right 116 of 116 in 10 styles
    "system:loop_internal": 0.91,  # right 73 of 73 in 8 styles
    "system:react_protocol": 0.894,  # right 42 of 42 in 5 styles
    "tool_choice_none": 0.991,  # right 23 of 23 in 2 styles
    "tool_history": 0.996,  # right 280 of 280 in 21 styles
    "tools_declared": 0.996,  # right 265 of 265 in 21 styles
    "user_task:action_grammar": 0.894,  # right 23 of 23 in 5 styles
    "user_task:command_protocol": 0.871,  # right 7 of 7 in 2 styles
    "user_task:loop_internal": 0.887,  # right 26 of 26 in 4 styles
    "user_template:action_grammar": 0.88,  # right 20 of 20 in 3 styles
    "user_template:command_protocol": 0.88,  # right 12 of 12 in 3 styles
    "user_template:loop_internal": 0.871,  # right 4 of 4 in 2 styles
}
