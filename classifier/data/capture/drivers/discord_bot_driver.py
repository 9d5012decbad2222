"""A Discord-style community bot on the openai SDK: people's messages, each signed with `name`, answered once.

The bot reads the channel's recent messages (several people, each message carrying its author's `name`) and
posts one reply; nothing it writes is executed or sent back to a model of the same task (single-turn), however
many people sign the turns. A Slack-style thread bot the same, with user ids as names.
"""

from __future__ import annotations

import zlib

from _common import run, session
from openai import OpenAI

CHANNELS = [
    [
        ("alice_92", "anyone know when the game night starts?"),
        ("Bob", "8pm I think"),
        ("carol", "@Botty can you confirm the time and remind us what to bring?"),
    ],
    [
        ("dev_dan", "the build is red again"),
        ("mia", "flaky test or real?"),
        ("dev_dan", "@Botty what does 'ECONNRESET in test_upload' usually mean?"),
    ],
    [
        ("Sam", "who's up for pizza friday"),
        ("lee", "me!"),
        ("Priya", "me too"),
        ("Sam", "@Botty how many pizzas for 9 people?"),
    ],
    [
        ("noob_jay", "how do I get the verified role"),
        ("mod_kate", "read #rules first"),
        ("noob_jay", "@Botty summarise the rules for me pls"),
    ],
    [("ana", "what's the capital of australia"), ("tom", "sydney"), ("ana", "@Botty settle this")],
    [("zed", "recommend me a sci-fi book"), ("ivy", "Project Hail Mary!"), ("zed", "@Botty another one like that?")],
]


def reply(url: str, channel: list[tuple[str, str]], slack: bool) -> None:
    system = (
        "You are Botty, a friendly helper in the #general channel of a community Discord server. "
        "Keep replies short and kind. Several people talk here; answer the last person who mentioned you."
    )
    if slack:
        system = "You are a Slack assistant in a team thread. Reply briefly to the latest question."
    messages = [{"role": "system", "content": system}]
    for i, (who, text) in enumerate(channel):
        name = f"U0{zlib.crc32(who.encode()) % 10**7:07d}" if slack else who
        messages.append({"role": "user", "name": name, "content": text})
        if i == 1 and not slack:
            messages.append({"role": "assistant", "content": "Hi all! Ping me if you need anything."})
    OpenAI(base_url=url, api_key="sk-capture", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=messages
    )


def main() -> None:
    for t, channel in enumerate(CHANNELS):
        run(
            session("discord_channel", "single_turn", t),
            [{"text": "On it!"}],
            lambda url, c=channel: reply(url, c, False),
        )
        run(session("slack_thread", "single_turn", t), [{"text": "Sure."}], lambda url, c=channel: reply(url, c, True))


if __name__ == "__main__":
    main()
