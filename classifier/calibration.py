"""Each rule's confidence: what it earns on styles it has not seen. Generated; do not edit.

Regenerate with `python -m classifier.calibrate`. Measured on:
- routetax-corpus.jsonl
- framework-captures.jsonl
- framework-shaped.jsonl
"""

# the fit, chosen leave-one-framework-out: each family's prior and its strength in styles
READING_PRIOR, READING_STRENGTH = 0.94, 48
ABSENCE_PRIOR, ABSENCE_STRENGTH = 0.95, 64
DEFAULT_CONFIDENCE = 0.85  # a rule never measured
CONFIDENCE: dict[str, float] = {
    "header_override": 1.0,  # the client said so
    "unparseable": 0.55,  # not measured: below the default policy.min_confidence on purpose
    "builtin_tools": 0.99,  # right 14 of 14 in 1 styles (structure)
    "forced_function": 0.991,  # right 69 of 69 in 8 styles (structure)
    "forced_step": 0.991,  # right 22 of 22 in 3 styles (structure)
    "last_user:loop_internal": 0.941,  # right 1 of 1 in 1 styles (reading)
    "loop:code_execution_loop": 0.948,  # right 67 of 67 in 7 styles (reading)
    "loop:command_protocol": 0.949,  # right 44 of 44 in 8 styles (reading)
    "loop:react_protocol": 0.949,  # right 82 of 82 in 9 styles (reading)
    "multi_agent_chat": 0.991,  # right 30 of 30 in 3 styles (structure)
    "no_agentic_signal": 0.969,  # right 330 of 334 in 43 styles (absence)
    "no_agentic_signal:agent_words": 0.958,  # right 53 of 53 in 13 styles (absence)
    "quoted_protocol": 0.956,  # right 35 of 35 in 9 styles (absence)
    "schema_action_step": 0.99,  # right 8 of 8 in 1 styles (structure)
    "schema_tools": 0.942,  # right 5 of 5 in 2 styles (reading)
    "structured_output": 0.954,  # right 78 of 78 in 6 styles (absence)
    "structured_output:agent_words": 0.952,  # right 13 of 13 in 2 styles (absence)
    "system:action_grammar": 0.95,  # right 53 of 53 in 10 styles (reading)
    "system:code_execution_loop": 0.942,  # right 14 of 14 in 2 styles (reading)
    "system:command_protocol": 0.95,  # right 116 of 116 in 10 styles (reading)
    "system:loop_internal": 0.949,  # right 73 of 73 in 8 styles (reading)
    "system:react_protocol": 0.946,  # right 42 of 42 in 5 styles (reading)
    "tool_choice_none": 0.99,  # right 23 of 23 in 2 styles (structure)
    "tool_history": 0.993,  # right 280 of 280 in 21 styles (structure)
    "tools_declared": 0.993,  # right 265 of 265 in 21 styles (structure)
    "user_task:action_grammar": 0.946,  # right 23 of 23 in 5 styles (reading)
    "user_task:command_protocol": 0.942,  # right 7 of 7 in 2 styles (reading)
    "user_task:loop_internal": 0.945,  # right 26 of 26 in 4 styles (reading)
    "user_template:action_grammar": 0.944,  # right 20 of 20 in 3 styles (reading)
    "user_template:command_protocol": 0.944,  # right 12 of 12 in 3 styles (reading)
    "user_template:loop_internal": 0.942,  # right 4 of 4 in 2 styles (reading)
}
