"""The loop signal: an agent loop is told from a person or a script by what comes back, and how fast.

The previous answer returns with new tool or environment output at machine pace (`tasks.machine_pace_s`):
that is a loop, whether the tool result travels as a tool message, a `function_call_output`, or a user
turn in a text protocol (ReAct, XML tool tags, DSPy fields, code execution with its error fed back). A
person's multi-turn chat is not a loop, nor is a script that sends its next plain message in 10 ms.
"""

from __future__ import annotations

from metering.task_atoms import chat_atoms, responses_atoms
from router.tasks.index import Entry, new_entry
from router.tasks.loop import environment_output, loop_signal, wrote_action

PACE = 5.0


def answered(calls: bool = False, text: str = "") -> Entry:
    return new_entry("task_x", 1, False, "classifier", 0.0, "nano", False, calls=calls, acted=wrote_action(text))


def user(text: str) -> list:
    return chat_atoms([{"role": "user", "content": text}])


def test_a_tool_result_sent_back_within_machine_pace_is_a_loop() -> None:
    new = chat_atoms([{"role": "tool", "tool_call_id": "call_1", "content": "42"}])
    assert loop_signal(new, answered(calls=True), gap_s=0.015, machine_pace_s=PACE)
    outputs = responses_atoms([{"type": "function_call_output", "call_id": "call_1", "output": "42"}])
    assert loop_signal(outputs, answered(calls=True), gap_s=1.6, machine_pace_s=PACE)  # a tool that took 1.5 s


def test_a_tool_result_after_a_persons_pause_is_not_a_loop() -> None:
    new = chat_atoms([{"role": "tool", "tool_call_id": "call_1", "content": "42"}])
    assert not loop_signal(new, answered(calls=True), gap_s=40.0, machine_pace_s=PACE)


def test_a_persons_multi_turn_chat_is_not_a_loop() -> None:
    previous = answered(text="Paris is the capital of France.")
    assert not loop_signal(user("And of Italy?"), previous, gap_s=12.0, machine_pace_s=PACE)
    pasted = "Output: Traceback (most recent call last):\n  File 'x.py'\nNameError: y"
    assert not loop_signal(user(pasted), answered(text="```python\nprint(y)\n```"), gap_s=45.0, machine_pace_s=PACE)


def test_a_script_that_sends_plain_messages_within_milliseconds_is_not_a_loop() -> None:
    previous = answered(text="Here is a haiku about autumn leaves.")
    assert not loop_signal(user("Now one about winter."), previous, gap_s=0.01, machine_pace_s=PACE)
    code = answered(text="Sure:\n```python\nprint('hi')\n```")  # it wrote code, but what came back is plain chat
    assert not loop_signal(user("Thanks, now in Rust please."), code, gap_s=0.01, machine_pace_s=PACE)


def test_text_protocol_observations_at_machine_pace_are_a_loop() -> None:
    react = answered(text="Thought: I should search.\nAction: search[capital of France]")
    assert loop_signal(user("Observation: Paris"), react, gap_s=0.02, machine_pace_s=PACE)
    xml = answered(text='<tool_call>\n{"name": "ls", "arguments": {}}\n</tool_call>')
    assert loop_signal(user("<tool_response>\na.txt\n</tool_response>"), xml, gap_s=0.3, machine_pace_s=PACE)
    dspy = answered(text="[[ ## next_thought ## ]]\nLook it up.\n[[ ## next_tool_name ## ]]\nsearch")
    assert loop_signal(user("[[ ## observation_0 ## ]]\nParis"), dspy, gap_s=0.05, machine_pace_s=PACE)
    code = answered(text="Code:\n```py\nresult = 1 / 0\n```<end_code>")
    assert loop_signal(user("Error: ZeroDivisionError: division by zero\nNow let's retry."), code, 0.4, PACE)
    assert loop_signal(user("Execution logs:\n42\nLast output from code snippet: None"), code, 0.4, PACE)
    edit = answered(text="app.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE")
    assert loop_signal(user("The SEARCH block failed to exactly match lines in app.py"), edit, 0.1, PACE)


def test_tool_calls_answered_by_a_user_turn_are_a_client_speaking_tools_in_text() -> None:
    rewritten = chat_atoms(
        [
            {"role": "assistant", "content": "Calling tools:\n[{'id': 'call_1', 'function': {'name': 'f'}}]"},
            {"role": "user", "content": "Call id: call_1\nObservation:\n42"},
        ]
    )
    assert loop_signal(rewritten, answered(calls=True), gap_s=0.02, machine_pace_s=PACE)


def test_what_counts_as_an_action_and_as_environment_output() -> None:
    assert wrote_action("Action: finish[done]") and wrote_action('{"action": "search", "action_input": "x"}')
    assert not wrote_action("The action of the play takes place in Verona.")
    assert environment_output("stdout:\nhello") and environment_output("<observation>ok</observation>")
    assert not environment_output("What did you observe in the results?")
