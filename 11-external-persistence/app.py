"""Lab 11: an agent whose chat history lives in Redis, so a conversation outlives the process.

    python app.py                                (inside 11-external-persistence/)
    python 11-external-persistence/app.py        (from the repository root)

``build_agent`` hands every new thread a ``RedisChatMessageStore`` through the agent's
``chat_message_store_factory``; the numbered menu chats, peeks at what Redis holds, loads a saved
thread (even one written before a restart), starts a fresh one, or deletes one.

With nothing configured it uses an embedded Valkey server and an offline model that answers from
the history it is sent. Set ``REDIS_URL`` and ``AOAI_ENDPOINT`` + ``AOAI_DEPLOYMENT`` to use Azure
Cache for Redis and Azure OpenAI (see ``lab11_persistence/config.py``). On Agent Framework 1.x the
same menu drives the package's ``Agent`` with ``RedisHistoryProvider``.

What the lab does not show lives in the ``lab11_persistence`` package beside this file: the
terminal (Ctrl-C, Ctrl-Z, inert text, one-line errors), start-up (the first menu appears while the
Agent Framework loads in the background), the embedded server, Microsoft Entra ID sign-in, and the
thread commands (``python app.py threads --help``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from lab11_persistence.config import INSTRUCTIONS, KEY_PREFIX, MAX_MESSAGES, Settings, load_settings
from lab11_persistence.console import commands, startup
from lab11_persistence.console.closed_output import output_closed
from lab11_persistence.console.menu import Conversation, MenuSession, Transcript
from lab11_persistence.redis_history.keys import new_thread_id
from lab11_persistence.redis_history.message_json import shown
from lab11_persistence.server.entra_id import store_connection  # costs nothing: its sign-in imports are lazy

if TYPE_CHECKING:  # pragma: no cover - imported in the background while the first menu is read
    from collections.abc import AsyncIterator

    from agent_framework import AgentThread, ChatAgent, ChatMessage

    from lab11_persistence.redis_history.history import SavedThread
    from redis_chat_message_store import RedisChatMessageStore

MENU = (
    ("1", "Send a user message"),
    ("2", "Peek at Redis history"),
    ("3", "Load a saved Redis thread"),
    ("4", "Start a fresh thread"),
    ("5", "Delete a saved thread"),
    ("0", "Exit"),
)
THREADS_SHOWN = 20


# -- the agent and its threads ------------------------------------------------------------------


def build_agent(redis_url: str, chat_client: Any = None, **store_options: Any) -> ChatAgent:
    """A travel-planner ``ChatAgent`` whose every thread keeps its history in Redis.

    ``store_options`` are the store's extras: connection ones (a CA file, ``cluster=True``, or an Entra
    ID ``connection`` that replaces ``redis_url``), and the model's window (``context_messages`` and
    the ``summarizer`` of what falls out of it).
    """
    from lab11_persistence.lab_release.agent import ChatAgent  # ChatAgent saving a turn in one add_messages
    from redis_chat_message_store import RedisChatMessageStore

    connection = store_options.pop("connection", None) or {"redis_url": redis_url}

    def store_factory(thread_id: str | None = None) -> RedisChatMessageStore:
        return RedisChatMessageStore(
            **connection, thread_id=thread_id, key_prefix=KEY_PREFIX, max_messages=MAX_MESSAGES, **store_options
        )

    if chat_client is None:
        from lab11_persistence.offline_model.lab_client import OfflineChatClient

        chat_client = OfflineChatClient()
    return ChatAgent(
        chat_client=chat_client,
        name="TravelPlanner",
        instructions=INSTRUCTIONS,
        chat_message_store_factory=store_factory,
    )


def create_thread(agent: ChatAgent, thread_id: str | None = None) -> tuple[AgentThread, RedisChatMessageStore]:
    """A new ``AgentThread`` (on ``thread_id``'s key when given) and its store, checked to be the Redis one."""
    from agent_framework import AgentThread

    from redis_chat_message_store import RedisChatMessageStore

    if thread_id is None:
        thread = agent.get_new_thread()  # the factory names a new thread
    else:
        thread = AgentThread(message_store=agent.chat_message_store_factory(thread_id=thread_id))
    store = thread.message_store
    if not isinstance(store, RedisChatMessageStore):
        raise TypeError(f"The agent's thread uses {type(store).__name__}, not RedisChatMessageStore.")
    return thread, store


def _message_text(message: ChatMessage) -> tuple[str, str]:
    """(role, text) of a message: ``ChatMessage.contents`` unwrapped, tool calls and results as short notes."""
    return shown(message.to_dict())


class LabConversation:
    """The menu's view of the agent: its current ``AgentThread`` and that thread's Redis store."""

    def __init__(self, agent: ChatAgent, thread_id: str) -> None:
        self.agent = agent
        self.thread, self.store = create_thread(agent, thread_id)

    @property
    def thread_id(self) -> str:
        return self.store.thread_id

    async def reply(self, prompt: str) -> AsyncIterator[str]:
        """``agent.run_stream``: once the reply is complete the store's ``add_messages`` saves the turn."""
        async for update in self.agent.run_stream(prompt, thread=self.thread):
            if update.text:
                yield update.text

    async def history(self) -> Transcript:
        """Every stored message (``list_messages()`` is what the model is sent: the summary and the window)."""
        messages = [_message_text(message) for message in await self.store.list_all_messages()]
        return Transcript.of(messages, await self.store.summary())

    async def switch_to(self, thread_id: str) -> None:
        """A new store on the thread's key, in a new ``AgentThread``; the previous store is closed."""
        old_store = self.store
        self.thread, self.store = create_thread(self.agent, thread_id)
        await old_store.aclose()

    async def saved_threads(self, limit: int) -> list[SavedThread]:
        return await self.store.list_saved_threads(limit)

    async def delete_thread(self, thread_id: str) -> None:
        await self.store.history.clear(thread_id)

    def state(self) -> dict[str, Any]:
        return self.store.current_state().model_dump()

    async def aclose(self) -> None:
        await self.store.aclose()


def open_conversation(settings: Settings, redis_url: str, thread_id: str, generation: str) -> Conversation:
    """The agent and its first thread, once the Agent Framework has loaded."""
    if generation == startup.V1:  # no ChatAgent on Agent Framework 1.x: the package's Agent and provider
        from lab11_persistence.v1.agent import open_conversation as open_on_v1

        return open_on_v1(settings, redis_url, thread_id)
    from lab11_persistence.agent_wiring import history_options
    from lab11_persistence.lab_release.agent import build_chat_client, summarizer_for

    chat_client = build_chat_client(settings)
    connection = store_connection(settings, redis_url)
    agent = build_agent(
        redis_url, chat_client, connection=connection, **history_options(settings, chat_client, summarizer_for)
    )
    return LabConversation(agent, thread_id)


# -- the menu -----------------------------------------------------------------------------------


def send_message(session: MenuSession) -> None:
    """1: ``agent.run_stream(prompt, thread=thread)``; the reply is shown as it arrives."""
    prompt = session.ask("You: ")
    if prompt == "":
        session.error("Nothing sent (empty message).")
    elif prompt is not None:
        session.send(prompt)


async def show_history(session: MenuSession, transcript: Transcript | None = None) -> None:
    """Print the current thread as Redis holds it: its summary, if it has one, and every message, oldest first."""
    if transcript is None:
        transcript = await session.conversation().history()
    session.print_history(transcript)


def _list_saved_thread_keys(session: MenuSession) -> list[SavedThread]:
    """The most recently used threads under ``lab11:``, newest first."""
    return session.run(session.conversation().saved_threads(THREADS_SHOWN))


def load_saved_thread(session: MenuSession) -> None:
    """3: pick a saved thread, point a new store at its key, and show what it holds."""
    chosen = session.pick_thread(_list_saved_thread_keys(session), "Load")
    if chosen is not None:
        session.run(_load(session, chosen.thread_id))


async def _load(session: MenuSession, thread_id: str) -> None:
    conversation = session.conversation()
    await conversation.switch_to(thread_id)
    session.thread_id = thread_id
    transcript = await conversation.history()
    session.print_loaded(len(transcript.messages), conversation.state())
    await show_history(session, transcript)


def start_fresh_thread(session: MenuSession) -> None:
    """4: a new thread id, so a new Redis key; the previous thread stays saved."""
    session.thread_id = new_thread_id()
    session.run(session.conversation().switch_to(session.thread_id))
    session.say(f"Started a fresh thread: {session.redis_key}")


def delete_saved_thread(session: MenuSession) -> None:
    """5: pick a saved thread and, once confirmed, delete its key."""
    chosen = session.pick_thread(_list_saved_thread_keys(session), "Delete")
    if chosen is not None and session.confirm_delete(chosen):
        session.run(session.conversation().delete_thread(chosen.thread_id))
        session.said_deleted(chosen)


def peek_history(session: MenuSession) -> None:
    """2: the current thread as Redis holds it."""
    session.run(show_history(session))


ACTIONS = {
    "1": send_message,
    "2": peek_history,
    "3": load_saved_thread,
    "4": start_fresh_thread,
    "5": delete_saved_thread,
}


def run_menu(session: MenuSession) -> int:
    """The numbered menu, until 0 (or Ctrl-C or Ctrl-D at the prompt)."""
    while True:
        choice = session.choose(MENU)
        if choice is None or choice == "0":
            return 0
        if choice not in ACTIONS:
            session.not_on_menu(choice, MENU)
            continue
        with session.action():  # Ctrl-C: back to the menu; a failure: one line, never a traceback
            ACTIONS[choice](session)


def main(argv: list[str] | None = None) -> int:
    """The lab's CLI (``--framework 1.x``: on Agent Framework 1.x, or one line saying how to get it), or with a
    subcommand (``threads``, ``show``, ...) that command; the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    settings = load_settings()
    if commands.wants_command(argv):
        return commands.main(argv, settings)
    try:
        return startup.run_app(settings, open_conversation, run_menu, argv)
    except BrokenPipeError:  # `lab11 < answers | head -1`: nobody reads the rest
        return output_closed()


def run() -> None:
    """``python app.py``, the ``lab11`` command and ``python -m lab11_persistence``."""
    startup.exit_with(main())


if __name__ == "__main__":
    run()
