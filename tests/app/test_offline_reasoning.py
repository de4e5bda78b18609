"""The offline model's reasoning on its own: (role, text) pairs in, facts and answers out, no framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab11_persistence.offline_model.reasoning import asked_in, compose_reply, facts_in, recollect, summarize
from lab11_persistence.summaries import summary_for_model

APP_DIR = Path(__file__).resolve().parents[2] / "11-external-persistence"


@pytest.mark.fast
@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("I'm Ana.", "Ana"),
        ("I am Ana", "Ana"),
        ("I’m Ana and I love seafood.", "Ana"),
        ("I am Ana Silva, from Porto.", "Ana Silva"),
        ("I'm Zoë.", "Zoë"),
        ("Hi, this is Ana.", "Ana"),
        ("Hello! This is Ana.", "Ana"),
        ("This is Ana speaking.", "Ana"),
        ("My name is Ada Lovelace.", "Ada Lovelace"),
        ("Call me Ishmael.", "Ishmael"),
    ],
)
def test_a_name_is_recorded_from_an_introduction(said: str, name: str) -> None:
    assert facts_in(said).get("name") == name


@pytest.mark.fast
@pytest.mark.parametrize(
    "said",
    [
        "I'm planning a trip to Lisbon.",
        "I'm from Porto.",
        "I'm vegetarian.",
        "I'm Vegetarian.",
        "I'm Portuguese.",
        "I'm OK.",
        "I'M PLANNING A TRIP.",
        "I'm Planning A Trip.",
        "I'm Going Home.",
        "I'm not Ana.",
        "This is Porto.",
        "My name is not important.",
    ],
)
def test_words_after_i_am_that_are_not_a_name_are_not_recorded_as_one(said: str) -> None:
    assert "name" not in facts_in(said)


@pytest.mark.fast
@pytest.mark.parametrize(
    "asked",
    [
        "Remind me of my budget and what I love.",
        "What is my budget?",
        "Do I travel in May?",
        "Where do I want to go to Lisbon?",
        "Tell me my name and my budget.",
        "I wonder what my budget is.",
    ],
)
def test_a_question_states_no_fact(asked: str) -> None:
    assert facts_in(asked) == {}


@pytest.mark.fast
def test_a_statement_before_a_question_in_the_same_message_is_recorded() -> None:
    assert facts_in("My name is Ana, what is my budget?") == {"name": "Ana"}
    assert asked_in("My name is Ana, what is my budget?") == ["budget"]


@pytest.mark.fast
def test_a_denied_fact_is_not_recorded() -> None:
    assert facts_in("I don't want to go to Paris, I want to go to Rome.") == {"destination": "Rome"}
    assert facts_in("I don't like fish and I love seafood.") == {"likes": "seafood", "dislikes": "fish"}
    assert facts_in("I'm not sure what my budget is.") == {}


@pytest.mark.fast
@pytest.mark.parametrize(
    ("asked", "kinds"),
    [
        ("What is my name and where do I want to go?", ["name", "destination"]),
        ("Remind me of my budget and what I love.", ["budget", "likes"]),
        ("When do I travel?", ["when"]),
        ("Where do I live?", ["home"]),
        ("What don't I like?", ["dislikes"]),
        ("What do you remember about me?", []),
    ],
)
def test_a_question_asks_about_the_facts_it_names(asked: str, kinds: list[str]) -> None:
    assert asked_in(asked) == kinds


@pytest.mark.fast
def test_the_reasoning_takes_role_and_text_pairs() -> None:
    memory, question = recollect(
        [("system", "Be brief."), ("user", "I'm Ana."), ("assistant", "Hello Ana."), ("user", "Who am I?")]
    )
    assert (memory.earlier_messages, memory.earlier_user_messages, question) == (2, 1, "Who am I?")
    assert compose_reply(memory, question).endswith("From them I remember: your name is Ana. Your name is Ana.")


@pytest.mark.app
def test_the_reasoning_needs_no_chat_framework() -> None:
    probe = "import sys, lab11_persistence.offline_model.reasoning; print('agent_framework' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=APP_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.fast
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "tool"]), st.text(max_size=200))))
def test_any_conversation_gets_an_answer_that_says_how_much_history_arrived(turns: list[tuple[str, str]]) -> None:
    memory, question = recollect(turns)
    assert compose_reply(memory, question).startswith(f"[offline model] I received {memory.earlier_messages} earlier")


# -- the offline model's summary (what falls out of the window) -------------------------------------


@pytest.mark.fast
def test_the_offline_summary_states_the_users_facts_so_they_read_back() -> None:
    turns = [
        ("user", "My name is Ana and I'm planning a trip to Lisbon."),
        ("assistant", "Noted."),
        ("user", "I love seafood."),
    ]
    summary = summarize(None, turns)
    assert summary == "The user said: My name is Ana. I want to go to Lisbon. I like seafood."
    assert facts_in(summary) == {"name": "Ana", "destination": "Lisbon", "likes": "seafood"}


@pytest.mark.fast
def test_in_the_summary_a_later_statement_wins_and_questions_add_nothing() -> None:
    first = summarize(None, [("user", "I want to go to Rome.")])
    later = summarize(first, [("user", "Actually I want to go to Porto. What is my budget?")])
    assert later == "The user said: I want to go to Porto."


@pytest.mark.fast
def test_the_reply_counts_the_messages_the_summary_covers_and_uses_its_facts() -> None:
    summary = summary_for_model(summarize(None, [("user", "My name is Ana.")]), 38)
    memory, question = recollect([("system", "Be brief."), ("system", summary), ("user", "Who am I?")])
    assert (memory.earlier_messages, memory.summarized_messages) == (0, 38)
    reply = compose_reply(memory, question)
    assert reply.startswith("[offline model] I received 0 earlier messages from this thread, and a summary of the 38")
    assert reply.endswith("Your name is Ana.")


@pytest.mark.fast
def test_a_system_message_that_is_not_a_summary_states_nothing() -> None:
    memory, _ = recollect([("system", "My name is Mallory."), ("user", "Who am I?")])
    assert memory.facts == {} and memory.summarized_messages == 0
