"""The lab's numbered menu: chat, peek, load a saved thread, start fresh, delete, exit.

The menu knows the terminal, not the Agent Framework: it drives a ``Conversation`` (the agent,
the current thread and its Redis history), which ``lab_agent`` builds on the lab's release and
``agent_v1`` on Agent Framework 1.x.
"""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from config import EXIT_OK, KEY_PREFIX, Settings, SetupError
from inert_text import inert, inert_line
from terminal import Terminal, WaitingIndicator

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from embedded_server import EmbeddedServer
    from redis_history import SavedThread

THREADS_SHOWN = 20

MENU_CHOICES = (
    ("1", "Send a user message"),
    ("2", "Peek at Redis history"),
    ("3", "Load a saved Redis thread"),
    ("4", "Start a fresh thread"),
    ("5", "Delete a saved thread"),
    ("0", "Exit"),
)

ROLE_STYLES = {
    "user": ("you", "1;36"),
    "assistant": ("assistant", "1;32"),
    "system": ("system", "2"),
    "tool": ("tool", "33"),
}


class Conversation(Protocol):
    """What the menu needs from an agent whose threads live in Redis (see ``lab_agent``, ``agent_v1``)."""

    thread_id: str

    def reply(self, prompt: str) -> AsyncIterator[str]:
        """Run one turn; the reply's text as it streams. The turn is saved when it ends."""
        ...

    async def history(self) -> list[tuple[str, str]]:
        """The current thread's messages as (role, text), oldest first, read from Redis."""
        ...

    async def switch_to(self, thread_id: str) -> None:
        """Continue another thread (a saved one, or a new id for a fresh thread)."""
        ...

    async def saved_threads(self, limit: int) -> list[SavedThread]: ...

    async def delete_thread(self, thread_id: str) -> None: ...

    def state(self) -> dict[str, Any]:
        """The current thread's ``RedisStoreState``: what it takes to reconnect, no credentials."""
        ...

    async def aclose(self) -> None: ...


class ConversationSource(Protocol):
    """Where the menu gets its conversation: loading starts early, the first action waits for it."""

    @property
    def ready(self) -> bool:
        """True once the framework is loaded (no wait on the next call)."""
        ...

    def start(self) -> None:
        """Begin loading in the background (called once the menu is on screen)."""
        ...

    def __call__(self, thread_id: str) -> Conversation: ...


class Interrupted(Exception):
    """Ctrl-C during an asynchronous action."""


class Session:
    """The running app: the menu over one conversation."""

    def __init__(
        self,
        settings: Settings,
        terminal: Terminal,
        open_conversation: ConversationSource,
        server: EmbeddedServer | None = None,
    ) -> None:
        self.settings = settings
        self.term = terminal
        self.server = server
        self.open_conversation = open_conversation
        self.thread_id = f"thread_{uuid.uuid4()}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.conversation: Conversation | None = None

    @property
    def redis_key(self) -> str:
        return f"{KEY_PREFIX}:{self.thread_id}"

    # -- running coroutines so that Ctrl-C cancels them cleanly --------------

    def run_async(self, coroutine: Any) -> Any:
        """Run a coroutine on the session's loop; Ctrl-C cancels it and raises Interrupted."""
        import asyncio

        assert self.loop is not None
        task = self.loop.create_task(coroutine)
        handler_installed = False
        try:
            self.loop.add_signal_handler(signal.SIGINT, task.cancel)
            handler_installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Interrupted from None
        except KeyboardInterrupt:
            task.cancel()
            self.loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            raise Interrupted from None
        finally:
            if handler_installed:
                self.loop.remove_signal_handler(signal.SIGINT)

    def ensure_ready(self) -> Conversation:
        """Wait for the background imports, then build the agent and the first thread (once)."""
        if self.conversation is None:
            import asyncio

            if not self.open_conversation.ready:
                self.term.say(self.term.paint("Loading the Agent Framework…", "2"))
            self.conversation = self.open_conversation(self.thread_id)
            self.loop = asyncio.new_event_loop()
        return self.conversation

    # -- the menu ----------------------------------------------------------------------

    def show_menu(self) -> None:
        term = self.term
        term.say()
        term.say(f"Current Redis key: {term.paint(self.redis_key, '1')}")
        for key, label in MENU_CHOICES:
            term.say(f"  {key}) {label}")

    def loop_forever(self) -> int:
        actions = {
            "1": self.send_message,
            "2": self.peek_history,
            "3": self.load_thread,
            "4": self.fresh_thread,
            "5": self.delete_thread,
        }
        while True:
            self.show_menu()
            self.open_conversation.start()  # load the heavy modules while the user reads the menu
            try:
                choice = self.term.ask("Choose an option: ")
            except (KeyboardInterrupt, EOFError):
                self.term.say()
                return EXIT_OK
            if choice == "0":
                return EXIT_OK
            action = actions.get(choice)
            if action is None:
                shown = "an empty choice" if not choice else inert_line(repr(choice[:20]))
                self.term.error(f"Please choose 1, 2, 3, 4, 5 or 0 ({shown} is not on the menu).")
                continue
            try:
                self.ensure_ready()
                action()
            except (Interrupted, KeyboardInterrupt):
                self.term.say()
                self.term.error("Interrupted; back to the menu.")
            except SetupError:
                raise
            except Exception as error:  # one line, never a traceback
                self.report(error)

    def report(self, error: BaseException, *, during_turn: bool = False) -> None:
        """One clear line for a failure, with no secret in it."""
        from redis.exceptions import RedisError

        from redis_connection import RedisPasswordRefusedError, RedisUnavailableError

        detail = self._one_line(error)
        sign_in = _in_chain(error, "ClientAuthenticationError")  # azure.core: no Azure credential worked
        if (entra := _in_chain(error, "EntraIdSignInError")) is not None:  # one line that says what to do
            self.term.error(self._one_line(entra))
        elif isinstance(error, RedisPasswordRefusedError):
            self.term.error(f"{detail}. Fix REDIS_URL and start the app again.")
        elif isinstance(error, RedisUnavailableError):
            restarted = self._restart_embedded_server()
            tail = " The embedded server has been restarted: try again." if restarted else " Try again in a moment."
            self.term.error(f"Redis is unavailable: {detail}.{tail}")
        elif isinstance(error, RedisError):
            self.term.error(f"Redis error: {type(error).__name__}: {detail}")
        elif during_turn and sign_in is not None:
            self.term.error(
                f"Could not sign in to Azure OpenAI ({self._one_line(sign_in)}). Run `az login` or set "
                "AOAI_API_KEY. Nothing from this turn was saved; you can send it again."
            )
        elif during_turn:
            self.term.error(
                f"The model call failed ({type(error).__name__}: {detail[:300]}). "
                "Nothing from this turn was saved; you can send it again."
            )
        else:
            self.term.error(f"That did not work: {type(error).__name__}: {detail[:300]}")

    def _one_line(self, error: BaseException) -> str:
        """The first line of an error's message, without secrets or control characters."""
        lines = [line for line in str(error).splitlines() if line.strip()]
        detail = self.settings.redact(" ".join(lines[0].split()) if lines else type(error).__name__).rstrip(".")
        return inert_line(re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", detail))  # classes named by repr

    def _restart_embedded_server(self) -> bool:
        if self.server is None:
            return False
        try:
            self.server.ensure_running()
        except Exception:
            return False
        return True

    # -- 1: send a user message ---------------------------------------------------------

    def send_message(self) -> None:
        try:
            prompt = self.term.ask("You: ")
        except (KeyboardInterrupt, EOFError):
            self.term.say()
            return
        if not prompt:
            self.term.error("Nothing sent (empty message).")
            return
        try:
            self.run_async(self._stream_reply(prompt))
        except Interrupted:
            self.term.say()
            self.term.error("Stopped. Nothing from this turn was saved; you can send it again.")

    async def _stream_reply(self, prompt: str) -> None:
        from redis.exceptions import RedisError

        from redis_connection import RedisUnavailableError

        conversation = self.ensure_ready()
        indicator = WaitingIndicator(self.term) if self.term.interactive else None
        if indicator:
            indicator.start()
        started = False
        failure: Exception | None = None
        try:
            async for text in conversation.reply(prompt):
                if not started:
                    if indicator:
                        await indicator.stop()
                    self.term.say(self.term.paint("assistant: ", "1;32"), end="")
                    started = True
                self.term.say(inert(text), end="")
        except Exception as error:
            failure = error
        finally:  # Ctrl-C included: the indicator never outlives the turn
            if indicator:
                await indicator.stop()
        if failure is not None:
            if started:
                self.term.say()
            if isinstance(failure, (RedisUnavailableError, RedisError)):
                if started:
                    self.term.error("The reply above could not be saved, so this turn is not in the history.")
                self.report(failure)
            else:
                self.report(failure, during_turn=True)
            return
        if not started:
            self.term.say(self.term.paint("assistant: ", "1;32") + "(empty reply)", end="")
        self.term.say()

    # -- 2: peek at Redis history ----------------------------------------------------------

    def peek_history(self) -> None:
        self.run_async(self._show_history())

    async def _show_history(self, messages: list[tuple[str, str]] | None = None) -> None:
        """Print the thread's history (read from Redis unless the caller just read it)."""
        if messages is None:
            messages = await self.ensure_ready().history()
        if not messages:
            self.term.say(f"No messages in {self.redis_key} yet.")
            return
        self.term.say(f"History of {self.redis_key} ({len(messages)} messages, oldest first):")
        for index, (role, text) in enumerate(messages, start=1):
            role, text = inert_line(role), inert(text)
            if self.term.colour:
                label, style = ROLE_STYLES.get(role, (role, "1"))
                self.term.say(f"{index:>3} {self.term.paint(f'{label:>9}', style)} │ {text}")
            else:
                self.term.say(f"{index}. {role}: {text}")

    # -- 3: load a saved Redis thread ------------------------------------------------------

    def _choose_saved_thread(self, verb: str) -> SavedThread | None:
        """List the most recent saved threads and ask for one; None to go back."""
        saved = self.run_async(self.ensure_ready().saved_threads(THREADS_SHOWN))
        if not saved:
            self.term.say(f"No saved threads under '{KEY_PREFIX}:' yet. Send a message first (option 1).")
            return None
        self.term.say(f"Saved threads under '{KEY_PREFIX}:' (most recent first):")
        for number, thread in enumerate(saved, start=1):
            current = "  (current)" if thread.thread_id == self.thread_id else ""
            preview = f'  "{inert_line(thread.preview)}"' if thread.preview else ""
            plural = "" if thread.message_count == 1 else "s"
            key = inert_line(thread.redis_key)
            self.term.say(f"  {number}) {key}  {thread.message_count} message{plural}{preview}{current}")
        while True:
            try:
                answer = self.term.ask(f"{verb} which thread? (1-{len(saved)}, Enter to go back): ")
            except (KeyboardInterrupt, EOFError):
                self.term.say()
                return None
            if not answer:
                return None
            if answer.isdigit() and 1 <= int(answer) <= len(saved):
                return saved[int(answer) - 1]
            self.term.error(f"Please type a number from 1 to {len(saved)}, or press Enter to go back.")

    def load_thread(self) -> None:
        chosen = self._choose_saved_thread("Load")
        if chosen is not None:
            self.run_async(self._switch_to(chosen.thread_id))

    async def _switch_to(self, thread_id: str) -> None:
        """Point the agent at the chosen thread, show its state (as the lab does) and its history."""
        conversation = self.ensure_ready()
        await conversation.switch_to(thread_id)
        self.thread_id = thread_id
        messages = await conversation.history()  # the count below is what the history shows
        count = len(messages)
        self.term.say(f"Loaded thread {inert_line(self.redis_key)} ({count} message{'' if count == 1 else 's'}).")
        state = conversation.state()
        shown = ", ".join(f"{name}={inert_line(str(value))}" for name, value in state.items() if value is not None)
        self.term.say(self.term.paint(f"Store state: {shown}", "2"))
        await self._show_history(messages)

    # -- 4: start a fresh thread -------------------------------------------------------------

    def fresh_thread(self) -> None:
        self.thread_id = f"thread_{uuid.uuid4()}"
        self.run_async(self.ensure_ready().switch_to(self.thread_id))
        self.term.say(f"Started a fresh thread: {self.redis_key}")

    # -- 5: delete a saved thread ------------------------------------------------------------

    def delete_thread(self) -> None:
        chosen = self._choose_saved_thread("Delete")
        if chosen is None:
            return
        from commands import delete_question, said_yes  # the same question as `lab11 delete`

        key = inert_line(chosen.redis_key)
        try:
            answer = self.term.ask(delete_question(chosen.redis_key, chosen.message_count))
        except (KeyboardInterrupt, EOFError):
            self.term.say()
            return
        if not said_yes(answer):
            self.term.say("Nothing deleted.")
            return
        self.run_async(self.ensure_ready().delete_thread(chosen.thread_id))
        self.term.say(f"Deleted {key}.")
        if chosen.thread_id == self.thread_id:
            self.term.say("That was the current thread: your next message starts it again.")

    # -- 0: exit -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; never raises."""
        if self.loop is None:
            return
        try:
            if self.conversation is not None:
                self.loop.run_until_complete(self.conversation.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        except BaseException:
            pass
        finally:
            self.loop.close()
            self.loop = None


def _in_chain(error: BaseException, class_name: str) -> BaseException | None:
    """The error, or one it was raised from, whose class has this name (no import needed to ask)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if type(current).__name__ == class_name:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
