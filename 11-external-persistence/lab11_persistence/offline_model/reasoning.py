"""What the offline model understands of a conversation, without any chat framework.

It takes ``(role, text)`` pairs, so a chat client written for another Agent Framework release
(``Message`` instead of ``ChatMessage``) can reuse it unchanged.

Two rules keep it honest:

- **Only statements are remembered.** A message is cut into sentences, and a sentence into clauses
  where a question word follows a comma or "and"/"but"/"so" ("My name is Ana, what is my budget?").
  A clause that opens like a question ("what", "where", "do", "remind me", "tell me", ...) or that
  ends its sentence with "?" is a question: facts are never read out of it. "Remind me of my budget
  and what I love." therefore records nothing; it asks about the budget and the likes, and the
  answer comes from memory or says that the user has not told it.
- **A name needs an introduction.** "My name is ...", "call me ...", "I'm called ..." take the
  next word as it is. "I'm X" / "I am X" takes X only when it looks like a name, since "I'm" is
  mostly followed by anything else ("planning a trip", "from Porto", "vegetarian"): X must be one
  word (or two, for a surname) starting with a capital and not all capitals, not a word people
  capitalise for other reasons (nationalities, "Vegan", "Back", "Going"...), and it must end the
  clause (followed by nothing, punctuation, "and", "but", "from", "here"). "This is X" counts only
  after a greeting ("Hi, this is Ana") or followed by "here"/"speaking", because "This is Porto."
  reads as well as a place as a name.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab11_persistence.counting import counted
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.summaries import read_summary_for_model

DISPLAY_NAME = "offline model"
MODEL_ID = "lab11-offline"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = r"(?=\s+(?:and|but|in|on|for|with|next|this|because|so)\b|[.,!?;:]|$)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "name",
        re.compile(
            r"\b(?:my name is|my name's|call me|i'm called|i am called)\s+([\w'-]+(?-i:\s+[A-Z][\w'-]*)?)", re.I
        ),
    ),
    (
        "destination",
        re.compile(
            r"\b(?:(?:go|travel|fly|get|move|head)\s+to|visit(?:ing)?|trip to|holiday in|vacation in)\s+"
            r"(?!a\b|an\b|the\b|somewhere\b)(.+?)" + _STOP,
            re.I,
        ),
    ),
    (
        "when",
        re.compile(
            r"\b(?:in|during|next|this)\s+((?:early |late |mid-)?(?-i:January|February|March|April|May|June|July"
            r"|August|September|October|November|December)|(?:the )?(?:spring|summer|autumn|fall|winter))\b",
            re.I,
        ),
    ),
    ("home", re.compile(r"\b(?:i live in|i'm from|i am from|i come from)\s+(.+?)" + _STOP, re.I)),
    (
        "budget",
        re.compile(
            r"\bbudget(?:(?:'s|\s+is|\s+of|\s*:)\s+|\s+(?=(?:around|about|roughly|under|up to)\b|[\d€$£]))(.+?)"
            + _STOP,
            re.I,
        ),
    ),
    ("likes", re.compile(r"\bi (?:really )?(?:like|love|enjoy)\s+(.+?)" + _STOP, re.I)),
    ("dislikes", re.compile(r"\bi (?:hate|dislike|don't like|do not like)\s+(.+?)" + _STOP, re.I)),
)
_PHRASES = {
    "name": "your name is {}",
    "destination": "you want to go to {}",
    "when": "you travel in {}",
    "home": "you live in {}",
    "budget": "your budget is {}",
    "likes": "you like {}",
    "dislikes": "you don't like {}",
}
_UNKNOWN = {
    "name": "your name",
    "destination": "where you want to go",
    "when": "when you travel",
    "home": "where you live",
    "budget": "your budget",
    "likes": "what you like",
    "dislikes": "what you don't like",
}
# What a question clause asks about, in the order answers are given.
_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name", re.compile(r"\b(?:my name|who am i|what am i called|what do you call me)\b", re.I)),
    (
        "home",
        re.compile(
            r"\b(?:(?:do|did) i live|i live|i come from|am i from|i am from|i'm from|my home(?:town)?|home town)\b",
            re.I,
        ),
    ),
    ("destination", re.compile(r"\b(?:where|destination|which (?:city|country|place))\b", re.I)),
    ("when", re.compile(r"\b(?:when|which month|what (?:month|dates?|season|time of year))\b", re.I)),
    ("budget", re.compile(r"\b(?:budget|afford|how much (?:can|should|do) i (?:spend|pay))\b", re.I)),
    ("likes", re.compile(r"\b(?:i (?:really )?(?:like|love|enjoy)|my (?:likes|favou?rites?))\b", re.I)),
    (
        "dislikes",
        re.compile(
            r"\b(?:i (?:hate|dislike|don't like|do not like)|(?:don't|do) i (?:hate|dislike)|don't i like)\b", re.I
        ),
    ),
)
_QUESTION_KINDS = dict(_QUESTIONS)
_QUESTION_WORDS = (
    r"what|where|when|who|whom|which|how|why|do|does|did|am|is|are|can|could|would|will|should|shall"
    r"|remind|tell me|recall|i(?:'d| would) like to know|i want to know|i wonder"
)
_QUESTION_START = re.compile(rf"\s*(?:(?:so|and|but|ok|okay|also|please|now)[,\s]+)*(?:{_QUESTION_WORDS})\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_CLAUSE_BREAK = re.compile(rf"(?:,\s*|\s+(?:and|but|so|also|plus)\s+)(?=(?:{_QUESTION_WORDS})\b)", re.I)
# A fact is not stated when the words before it in its clause deny it ("I don't want to go to Paris").
_NEGATION = re.compile(r"(?:\bnot\b|\bnever\b|n't\b|\bno longer\b)[^,;]*$", re.I)
_SUBCLAUSE_START = re.compile(r".*(?:,|\band\b|\bbut\b)", re.I | re.S)
# Words that cannot be what a fact is about: "my budget is and what I love", "I love it".
_NOT_A_VALUE = _words(
    """
    and or but so is are was were be what where when who whom which how why if whether not no it this that them you me
    """
)

_GREETING = r"(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening))(?:\s+there)?"
_INTRODUCTION = re.compile(r"\b(?:i'm|i am)\s+", re.I)
_THIS_IS = re.compile(rf"^\s*(?:(?P<greeting>{_GREETING})[\s,!.]*)?this is\s+", re.I)
_GREETING_ONLY = re.compile(rf"^\s*{_GREETING}[\s,!.]*$", re.I)
_NAME_WORDS = re.compile(r"([^\W\d_][\w'-]*)(?:\s+([^\W\d_][\w'-]*))?(.*)", re.S)
_AFTER_NAME = re.compile(r"\s*(?:$|[.,!;:]|(?:and|but|from|here|speaking)\b)", re.I)
# Capitalised words that follow "I'm" without being a name.
_NOT_A_NAME = _words(
    """
    a an the not just so very really also still here back fine good great ok okay sorry sure ready done home lost
    tired hungry thirsty excited busy free new alone bored happy sad glad afraid interested curious in at on from
    with about off out over up down into vegetarian vegan pescatarian celiac coeliac diabetic allergic intolerant
    single married divorced retired pregnant late early open flexible
    american british english irish scottish welsh french german dutch spanish portuguese italian greek swiss
    austrian belgian swedish norwegian danish finnish icelandic polish czech slovak hungarian romanian bulgarian
    croatian serbian russian ukrainian turkish chinese japanese korean vietnamese thai filipino indonesian
    malaysian indian pakistani bangladeshi brazilian mexican argentinian argentine chilean peruvian colombian
    venezuelan cuban canadian australian african nigerian kenyan egyptian moroccan israeli iranian iraqi arab
    european asian latino latina hispanic jewish muslim catholic protestant hindu buddhist sikh atheist
    """
)


@dataclass
class Recollection:
    """What the offline model gathered from the history it was sent."""

    earlier_messages: int = 0
    earlier_user_messages: int = 0
    summarized_messages: int = 0  # how many older messages the summary it was sent covers
    facts: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.facts:
            return ""
        return "; ".join(_PHRASES[kind].format(value) for kind, value in self.facts.items())


def _clean(value: str) -> str:
    return " ".join(value.strip(" '\"").split())


def clauses(text: str) -> list[tuple[str, bool]]:
    """The clauses of a message, each with whether it is a question."""
    found: list[tuple[str, bool]] = []
    for sentence in _SENTENCE_END.split(text.replace("\u2019", "'")):
        parts = [part for part in _CLAUSE_BREAK.split(sentence) if part.strip()]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            asking = bool(_QUESTION_START.match(part)) or (last and sentence.rstrip().endswith("?"))
            found.append((part, asking))
    return found


def _looks_like_name(word: str) -> bool:
    return (
        len(word) > 1
        and word[0].isupper()
        and not word.isupper()
        and word.lower() not in _NOT_A_NAME
        and not (len(word) > 4 and word.lower().endswith("ing"))
    )


def _name_at(tail: str) -> tuple[str, str] | None:
    """The name that opens ``tail`` (what follows "I'm") and the words after it, if the words there look like a
    name and end the clause."""
    match = _NAME_WORDS.match(tail)
    if match is None or not _looks_like_name(match.group(1)):
        return None
    first, second, rest = match.groups()
    if second and _looks_like_name(second) and _AFTER_NAME.match(rest):
        return f"{first} {second}", rest
    after = tail[match.end(1) :]
    return (first, after) if _AFTER_NAME.match(after) else None


def _introduced_name(clause: str, after_greeting: bool) -> str | None:
    """A name from "I'm Ana" / "I am Ana", or from "this is Ana" after a greeting or before "here"/"speaking"."""
    for match in _INTRODUCTION.finditer(clause):
        if not _denied(clause, match.start()) and (found := _name_at(clause[match.end() :])):
            return found[0]
    match = _THIS_IS.match(clause)
    found = _name_at(clause[match.end() :]) if match else None
    if match is None or found is None:
        return None
    name, after = found
    if match.group("greeting") or after_greeting or re.match(r"\s*(?:here|speaking)\b", after, re.I):
        return name
    return None


def _meaningful(value: str) -> bool:
    return bool(re.search(r"[^\W_]", value)) and value.split()[0].lower() not in _NOT_A_VALUE


def _denied(clause: str, start: int) -> bool:
    before = clause[:start]
    opening = _SUBCLAUSE_START.match(before)
    return bool(_NEGATION.search(before[opening.end() :] if opening else before))


def facts_in(text: str) -> dict[str, str]:
    """The facts one user message states, by kind; questions in it state nothing."""
    facts: dict[str, str] = {}
    after_greeting = False
    for clause, asking in clauses(text):
        if asking:
            after_greeting = False
            continue
        for kind, pattern in _PATTERNS:
            for match in pattern.finditer(clause):
                value = _clean(match.group(1))
                if _meaningful(value) and not _denied(clause, match.start()):
                    facts[kind] = value
        if "name" not in facts and (name := _introduced_name(clause, after_greeting)):
            facts["name"] = name
        after_greeting = bool(_GREETING_ONLY.match(clause))
    return {kind: facts[kind] for kind, _ in _PATTERNS if kind in facts}  # the name first, however it came


def asked_in(text: str) -> list[str]:
    """The kinds of fact the questions in one message ask about, in answering order."""
    asked: set[str] = set()
    for clause, asking in clauses(text):
        if not asking:
            continue
        kinds = {kind for kind, pattern in _QUESTIONS if pattern.search(clause)}
        if "home" in kinds and not re.search(r"\b(?:destination|city|country|place)\b", clause, re.I):
            kinds.discard("destination")  # "where do I live" is about home, not the trip
        if "dislikes" in kinds and not _QUESTION_KINDS["likes"].search(_QUESTION_KINDS["dislikes"].sub("", clause)):
            kinds.discard("likes")  # "what don't I like" is not about the likes
        asked |= kinds
    return [kind for kind, _ in _QUESTIONS if kind in asked]


def recollect(turns: Iterable[tuple[str, str]]) -> tuple[Recollection, str]:
    """Facts from every user message before the last one, and the last user message itself.

    ``turns`` are ``(role, text)`` pairs, oldest first; roles are "system", "user", "assistant", "tool".
    """
    turns = [(str(role).lower(), text or "") for role, text in turns]
    conversation = [(role, text) for role, text in turns if role != "system"]
    last_user = max((index for index, (role, _) in enumerate(conversation) if role == "user"), default=None)
    earlier = conversation[:last_user] if last_user is not None else conversation
    memory = Recollection(earlier_messages=len(earlier))
    for role, text in turns:  # a summary of older messages comes first, as a system message
        if role == "system" and (summary := read_summary_for_model(text)):
            memory.summarized_messages, summary_text = summary
            memory.facts.update(facts_in(summary_text))
    for role, text in earlier:
        if role != "user":
            continue
        memory.earlier_user_messages += 1
        memory.facts.update(facts_in(text))  # a later statement wins
    return memory, conversation[last_user][1] if last_user is not None else ""


def _sentence(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:] + "."


def compose_reply(memory: Recollection, question: str) -> str:
    """The offline answer: how much history arrived, what it says, and a reply to the question."""
    received = f"[{DISPLAY_NAME}] I received {counted(memory.earlier_messages, 'earlier message')} from this thread"
    if memory.summarized_messages:
        received += f", and a summary of the {memory.summarized_messages} before them"
    parts = [received + "."]
    if memory.facts:
        parts.append(f"From them I remember: {memory.summary()}.")
    elif memory.earlier_messages:
        parts.append("None of them told me your name or where you want to go.")
    else:
        parts.append("This is the start of our conversation.")
    stated = facts_in(question)
    if stated:
        parts.append("Noted: " + "; ".join(_PHRASES[kind].format(value) for kind, value in stated.items()) + ".")
    asked = asked_in(question)
    for kind in asked:
        if kind in stated:
            continue  # just noted above
        if kind in memory.facts:
            parts.append(_sentence(_PHRASES[kind].format(memory.facts[kind])))
        else:
            parts.append(f"You have not told me {_UNKNOWN[kind]}.")
    if not asked:
        destination = stated.get("destination") or memory.facts.get("destination")
        if destination:
            parts.append(f"For {destination}: pick one neighbourhood as a base and keep a day free for surprises.")
        elif question.strip():
            parts.append("Tell me where you would like to go and I will plan around what you've told me.")
    return " ".join(parts)


# The offline summary states the user's facts in the user's own words, so that reading it back
# (``recollect``) finds the same facts.
_STATED = {
    "name": "My name is {}.",
    "destination": "I want to go to {}.",
    "when": "I travel in {}.",
    "home": "I live in {}.",
    "budget": "My budget is {}.",
    "likes": "I like {}.",
    "dislikes": "I don't like {}.",
}


def summarize(previous: str | None, turns: Iterable[tuple[str, str]]) -> str:
    """The offline model's summary: the facts the previous summary and the user's new messages state
    (a later statement wins), as the user said them. Deterministic."""
    facts = facts_in(previous or "")
    for role, text in turns:
        if str(role).lower() == "user":
            facts.update(facts_in(text))
    if not facts:
        return "The user has stated no facts yet."
    return "The user said: " + " ".join(_STATED[kind].format(facts[kind]) for kind, _ in _PATTERNS if kind in facts)


async def summarize_messages(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
    """``summarize`` as a summarizer of stored messages (``redis_history.window.Summarizer``)."""
    return summarize(previous, [(message["role"], message_text(message)) for message in messages])


async def typed_out(text: str, delay: float) -> AsyncIterator[str]:
    """The reply a word at a time, ``delay`` seconds apart, as a streaming model would send it."""
    for chunk in re.findall(r"\S+\s*", text):
        if delay:
            await asyncio.sleep(delay)
        yield chunk
