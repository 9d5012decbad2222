"""The task sets several drivers share, so that frameworks are compared on the same requests.

Each driver runs task t of a set as session t; run.py holds every third task out (t % 3 == 2).
"""

from __future__ import annotations

# (question, tool the scripted model calls, its arguments): an ops assistant with a weather and a ticket tool.
# INC-9's lookup fails and INC-77's comes back empty where a driver's tool says so, as real tools do.
OPS_TASKS: list[tuple[str, str, dict[str, str]]] = [
    ("What's the weather in Oslo, and do I need gloves?", "get_weather", {"city": "Oslo"}),
    ("Find the status of ticket INC-2231.", "lookup_ticket", {"ticket_id": "INC-2231"}),
    ("Is it snowing in Denver right now?", "get_weather", {"city": "Denver"}),
    ("Who owns ticket INC-9?", "lookup_ticket", {"ticket_id": "INC-9"}),
    ("How cold is Helsinki today?", "get_weather", {"city": "Helsinki"}),
    ("Is INC-77 resolved?", "lookup_ticket", {"ticket_id": "INC-77"}),
]
OPS_QUESTIONS = [question for question, _, _ in OPS_TASKS]

# (question, city): a travel assistant with one weather tool.
WEATHER_TASKS: list[tuple[str, str]] = [
    ("What's the weather in Oslo, and do I need gloves?", "Oslo"),
    ("Is it snowing in Denver right now?", "Denver"),
    ("How cold is Helsinki today?", "Helsinki"),
    ("Is it a good day for a run in Zurich?", "Zurich"),
    ("Should I bike to work in Amsterdam today?", "Amsterdam"),
    ("Do I need an umbrella in Seattle?", "Seattle"),
]
WEATHER_QUESTIONS = [question for question, _ in WEATHER_TASKS]

# Writing tasks for a team of agents (planner, researcher, writer, critic).
TEAM_TASKS = [
    "Write a two-line travel note about today's weather in Oslo.",
    "Draft a short ops update on the weather in Denver.",
    "Tell the team whether it's a good day for a run in Zurich.",
    "Write a picnic plan for Seattle given today's weather.",
    "Should the Helsinki office close early for snow? Write a note.",
    "Write a bike-commute advisory for Amsterdam today.",
]
