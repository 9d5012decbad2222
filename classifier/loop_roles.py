"""Calls inside an agent loop that are not steps: planners, selectors, task lists, ledgers, condensers, role play.

Their result goes back to a model of the same task (the plan is executed, the chosen speaker speaks,
the summary replaces the history the agent continues from), so they are agentic by the label's
definition, yet they carry no tools and no action grammar. What gives them away is that the
instructions speak of the loop itself: steps already done, a plan that will be executed, the team
and who speaks next, the agent that will continue from this summary. A person's plan ("a plan for
my weekend") or a summary of a pasted log speaks of none of these.

Its phrases are found by the instruction-phrase pass of `classifier.text` (one automaton for all).
"""

from __future__ import annotations

import re

# Said alone, these describe a loop's internals.
LOOP_STATE = (
    # who acts next among agents
    "speaks next",
    "speak next",
    "next speaker",
    "next_speaker",
    "next role to play",
    "select the next role",
    "choose the next role",
    "who should act next",
    "select the next agent",
    "choose the next agent",
    # a task list kept by an agent
    "execution agent",
    "task creation ai",
    "task prioritization ai",
    "task prioritisation ai",
    "reprioritizing the following tasks",
    "objective of your team",
    "previously completed tasks",
    "last completed task",
    "task list of an agent",
    "incomplete tasks",
    "tasks are still open",
    # role play between agents, and debates that read the other agents' answers
    "never flip roles",
    "never swap roles",
    "never forget you are a",
    "other agents' answers",
    "other agents' solutions",
    "from other agents",
    "reasoning from other agents",
    "one agent solution",
    "task_done>",
    # a task refined for the agents that will work on it (CAMEL's task specifier, before its role play)
    "can make a task more specific",
    # a member of a team, handed its role by the team's leader, to whom its answer returns (Agno)
    "<your_role>",
    "your role in the team",
    # instructions for another model of the same task (an architect directing an editor)
    "your editor engineer",
    "the editor engineer will",
    "provide direction to your",
    # condensation written for the agent that continues
    "actions taken by the agent",
    "your previous actions",
    "supporting any continuing tasks",
    "will continue from",
    "continue working from",
    "context-aware state summary",
    "older messages are removed",
    "older messages will be removed",
    "context is nearly full",
    "context window is nearly",
    "for an interactive agent",
    "agent that is still working",
    "the agent is still working",
    # a reflection on a failed attempt, for the next one
    "previous reasoning trial",
    "previous trial in which",
    "previous trial you",
    "mitigate the same failure",
    # a draft that a critic's critique sends back for revision (a reflection loop)
    "if the user provides critique",
    "when given a critique",
    "revised version of your previous",
    # a ledger of a team's progress
    "assembled the following team",
    "pre-survey",
    "facts to look up",
    "is progress being made",
    "is_progress_being_made",
    "is_request_satisfied",
    "is the request fully satisfied",
)
# A plan, which is agentic only when its steps are run and chained to an answer, or it is revised mid-run.
PLAN = (
    "step-by-step plan",
    "step by step plan",
    "make a plan",
    "make plans",
    "write a plan",
    "plan of action",
    "high-level plan",
    "high level plan",
    "update your plan",
    "update the plan",
    "updated plan",
    "short plan",
    "bullet-point plan",
    "devise a plan",
    "plan the work",
    "break the task into",
    "breaks the task into",
)
EXECUTED = (
    # the plan's steps are run and their results chained (not "will be executed" by people over sprints)
    "if executed",
    "executed in order",
    "original plan",
    "past steps",
    "steps done",
    "steps so far",
    "result of the last step",
    "result of the final step",
    "following team",
    "for the given objective",
    "history of attempts",
    "previous tries",
    # the plan's steps are someone else's to do: a planner among agents
    "steps yourself",
    "for the others",
    "for the other agents",
    "for other agents",
    "for the other members",
    "for your teammates",
    "for your team members",
    "for the rest of the team",
)
# A critic: with the draft it reads sent as a turn after the task it was written for, a reflection loop's critic.
CRITIC = ("critique", "feedback on")
# A request to write a text, the task a writer's draft answers.
WRITING_TASK = re.compile(r"(?i)^\W*(?:please )?(?:write|draft|compose|create|produce|generate|prepare)\b")
PHRASES = tuple(dict.fromkeys(LOOP_STATE + PLAN + EXECUTED + CRITIC))
_STATE, _PLAN, _EXECUTED, _CRITIC = frozenset(LOOP_STATE), frozenset(PLAN), frozenset(EXECUTED), frozenset(CRITIC)


def inside_a_loop(found: set[str], ledger: bool = False) -> bool:
    """Do the instructions, by the phrases found in them (of `PHRASES`), speak of the loop they run in?

    `ledger` asks more of a conversation's last turn, where a person may well ask who speaks next at a
    wedding: two questions about the loop's state, as an orchestrator's progress ledger asks.
    """
    if ledger:
        return len(found & _STATE) >= 2
    return not found.isdisjoint(_STATE) or (not found.isdisjoint(_PLAN) and not found.isdisjoint(_EXECUTED))


def critic_of_a_writer(found: set[str], turns: list[tuple[str, str]]) -> bool:
    """A critic whose draft came from another model: the conversation opens with a request for a text and
    then the text, both as turns of the other side (a reflection loop hands its critic the writer's task
    and the writer's drafts).

    `found` are the phrases of the instructions, `turns` the (role, text) turns after them. A person asking
    an editor for a critique asks for the critique, not for the text ("Can you critique my letter?"), and
    sends the draft with it or after it; a task to write something followed by the written thing is the
    writer's task and the writer's answer.
    """
    if found.isdisjoint(_CRITIC) or len(turns) < 2 or (turns[0][0], turns[1][0]) != ("user", "user"):
        return False
    return WRITING_TASK.match(turns[0][1]) is not None
