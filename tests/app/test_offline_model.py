"""The offline model: a real BaseChatClient whose answers show which history reached it."""

from __future__ import annotations

import pytest
from agent_framework import BaseChatClient, ChatAgent

from lab11_persistence.offline_model.lab_client import OfflineChatClient

pytestmark = pytest.mark.fast


async def _conversation(prompts: list[str]) -> list[str]:
    agent = ChatAgent(chat_client=OfflineChatClient(chunk_delay=0), instructions="Be brief.")
    thread = agent.get_new_thread()
    replies = []
    for prompt in prompts:
        replies.append("".join([update.text async for update in agent.run_stream(prompt, thread=thread)]))
    return replies


def test_it_is_a_real_chat_client() -> None:
    assert isinstance(OfflineChatClient(), BaseChatClient)


async def test_it_says_how_many_earlier_messages_it_received() -> None:
    replies = await _conversation(["Hello", "Hello again", "And again"])
    assert [reply.split(".")[0] for reply in replies] == [
        "[offline model] I received 0 earlier messages from this thread",
        "[offline model] I received 2 earlier messages from this thread",
        "[offline model] I received 4 earlier messages from this thread",
    ]


async def test_it_recalls_facts_the_user_stated_earlier() -> None:
    *_, answer = await _conversation(
        ["Hi, my name is Ada Lovelace and I want to go to Lisbon.", "My budget is 1500 euros.", "What is my name?"]
    )
    assert "your name is Ada Lovelace; you want to go to Lisbon; your budget is 1500 euros" in answer
    assert answer.endswith("Your name is Ada Lovelace.")


async def test_it_recalls_when_the_user_travels_and_what_they_like() -> None:
    *_, answer = await _conversation(
        ["My name is Ana and I'm planning a trip to Lisbon.", "I travel in May and I love seafood.", "Anything else?"]
    )
    assert "you travel in May" in answer
    assert "you like seafood" in answer


async def test_streaming_and_non_streaming_answers_agree() -> None:
    agent = ChatAgent(chat_client=OfflineChatClient(chunk_delay=0))
    streamed = "".join([u.text async for u in agent.run_stream("I want to go to Oslo.")])
    whole = (await agent.run("I want to go to Oslo.")).text
    assert streamed == whole


async def test_a_question_about_the_budget_records_nothing_and_says_it_does_not_know() -> None:
    (answer,) = await _conversation(["Remind me of my budget and what I love."])
    assert "Noted" not in answer
    assert "You have not told me your budget." in answer
    assert "You have not told me what you like." in answer


async def test_a_question_about_the_budget_is_answered_from_memory() -> None:
    *_, answer = await _conversation(
        ["My budget is 1500 euros and I love seafood.", "Remind me of my budget and what I love."]
    )
    assert "Noted" not in answer
    assert answer.endswith("Your budget is 1500 euros. You like seafood.")


async def test_a_name_given_as_i_am_is_remembered() -> None:
    *_, answer = await _conversation(["I'm Ana.", "Who am I?"])
    assert "From them I remember: your name is Ana." in answer
    assert answer.endswith("Your name is Ana.")


async def test_what_the_user_loves_when_they_travel_and_where_they_live_can_be_asked() -> None:
    said = ["I live in Porto.", "I travel in May and I love seafood."]
    *_, loves = await _conversation([*said, "What do I love?"])
    *_, when = await _conversation([*said, "When do I travel?"])
    *_, home = await _conversation([*said, "Where do I live?"])
    assert loves.endswith("You like seafood.")
    assert when.endswith("You travel in May.")
    assert home.endswith("You live in Porto.")


async def test_what_you_remember_names_lisbon_may_and_seafood_as_in_the_readme() -> None:
    *_, answer = await _conversation(
        [
            "My name is Ana and I'm planning a trip to Lisbon.",
            "I travel in May and I love seafood.",
            "What do you remember about me?",
        ]
    )
    assert answer.startswith("[offline model] I received 4 earlier messages from this thread. From them I remember: ")
    assert all(word in answer for word in ("Ana", "Lisbon", "May", "seafood"))
