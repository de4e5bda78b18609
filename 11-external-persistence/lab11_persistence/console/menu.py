"""The terminal side of the lab's numbered menu (the menu itself, and what each choice does, is ``app.py``).

It knows the terminal, not the Agent Framework: it drives a ``Conversation`` (the agent, the current
thread and its Redis history), which ``app.py`` builds on the lab's release and ``v1.agent`` on Agent
Framework 1.x. Here: running an action so that Ctrl-C cancels it cleanly, streaming a reply behind a
waiting indicator, one clear line for any failure, and printing stored text inert.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from lab11_persistence.config import KEY_PREFIX, Settings, SetupError
from lab11_persistence.console.inert_text import inert, inert_line
from lab11_persistence.console.terminal import Terminal, WaitingIndicator
from lab11_persistence.console.wording import (
    delete_question,
    history_heading,
    removed_note,
    said_yes,
    summary_heading,
)
from lab11_persistence.counting import counted
from lab11_persistence.redis_history.keys import KeyLayout, new_thread_id
from lab11_persistence.transcript import Transcript

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from lab11_persistence.redis_history.history import SavedThread
    from lab11_persistence.server.embedded_server import EmbeddedServer

log = logging.getLogger(__name__)

ROLE_STYLES = {
    "user": ("you", "1;36"),
    "assistant": ("assistant", "1;32"),
    "system": ("system", "2"),
    "tool": ("tool", "33"),
}


class Conversation(Protocol):
    """What the menu needs from an agent whose threads live in Redis (see ``app.py``, ``v1.agent``)."""

    thread_id: str

    def reply(self, prompt: str) -> AsyncIterator[str]:
        """Run one turn; the reply's text as it streams. The turn is saved when it ends."""
        ...

    async def history(self) -> Transcript:
        """The current thread's messages and summary, read from Redis."""
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


class MenuSession:
    """The running menu on the terminal: the current thread, and the conversation once it is loaded."""

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
        self.thread_id = new_thread_id()  # named before the framework loads, so the first menu shows the key
        self.layout = KeyLayout.resolve(KEY_PREFIX, **settings.key_scope)  # the lab's, or Microsoft's scoped keys
        self.loop: asyncio.AbstractEventLoop | None = None
        self._conversation: Conversation | None = None

    @property
    def redis_key(self) -> str:
        return self.layout.key(self.thread_id)

    def conversation(self) -> Conversation:
        """Wait for the background imports, then build the agent and the first thread (once)."""
        if self._conversation is None:
            from lab11_persistence.console import deferred  # the one place of what the first menu does not need

            if not self.open_conversation.ready:
                self.term.say(self.term.paint("Loading the Agent Framework…", "2"))
            self._conversation = self.open_conversation(self.thread_id)
            self.loop = deferred.asyncio.new_event_loop()
        return self._conversation

    # -- running actions so that Ctrl-C cancels them cleanly -------------------------------

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the session's loop; Ctrl-C cancels it and raises Interrupted."""
        from lab11_persistence.console.deferred import asyncio

        self.conversation()  # the loop exists once the conversation does
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

    @contextmanager
    def action(self) -> Iterator[None]:
        """One menu action: Ctrl-C goes back to the menu, and any failure is one line, never a traceback."""
        try:
            self.conversation()
            yield
        except (Interrupted, KeyboardInterrupt):
            self.term.say()
            self.term.error("Interrupted; back to the menu.")
        except (SetupError, BrokenPipeError):  # a closed output ends the program (app.main), nothing to report
            raise
        except Exception as error:
            self.stop_if_a_key_is_missing(error)
            self.report(error)

    def stop_if_a_key_is_missing(self, error: BaseException) -> None:
        """An entry sealed under a key id LAB11_ENCRYPTION_KEYS lacks is a configuration error, not a failure to
        retry: the app says so in one line naming the id and ends (exit status 2), having changed nothing."""
        if (missing := _in_chain(error, "MissingKeyError")) is not None:
            raise SetupError(self._one_line(missing)) from None

    # -- the menu itself -----------------------------------------------------------------------

    def choose(self, choices: Sequence[tuple[str, str]]) -> str | None:
        """Show the current key and the choices, and read one; None on Ctrl-C or Ctrl-D."""
        term = self.term
        term.say()
        term.say(f"Current Redis key: {term.paint(self.redis_key, '1')}")
        for key, label in choices:
            term.say(f"  {key}) {label}")
        self.open_conversation.start()  # load the heavy modules while the user reads the menu
        return self.ask("Choose an option: ")

    def not_on_menu(self, choice: str, choices: Sequence[tuple[str, str]]) -> None:
        keys = [key for key, _ in choices]
        shown = "an empty choice" if not choice else inert_line(repr(choice[:20]))
        self.term.error(f"Please choose {', '.join(keys[:-1])} or {keys[-1]} ({shown} is not on the menu).")

    def ask(self, prompt: str) -> str | None:
        """One line from the user, stripped; None (after a new line) on Ctrl-C or Ctrl-D.

        Once the conversation is open the line is awaited on its event loop, so that work left in the
        background (a summary of the last turn being written) goes on while the user reads and types.
        """
        try:
            if self.loop is None:
                return self.term.ask(prompt)
            return self.run(self.term.ask_async(prompt))
        except (KeyboardInterrupt, Interrupted, EOFError):
            self.term.say()
            return None

    def say(self, text: str = "") -> None:
        self.term.say(text)

    def error(self, text: str) -> None:
        self.term.error(text)

    # -- failures, in one line -----------------------------------------------------------------

    def report(self, error: BaseException, *, during_turn: bool = False, restarted: bool | None = None) -> None:
        """One clear line for a failure, with no secret in it.

        ``restarted``: whether the embedded server was already restarted for this failure (a turn does that
        off the event loop before it reports); None restarts it here, outside any running loop.
        """
        from lab11_persistence.console.deferred import (
            RedisError,
            RedisPasswordRefusedError,
            RedisUnavailableError,
            ReplicaConfirmationError,
        )

        detail = self._one_line(error)
        sign_in = _in_chain(error, "ClientAuthenticationError")  # azure.core: no Azure credential worked
        if (entra := _in_chain(error, "EntraIdSignInError")) is not None:  # one line that says what to do
            self.term.error(self._one_line(entra))
        elif isinstance(error, RedisPasswordRefusedError):
            self.term.error(f"{detail}. Fix REDIS_URL and start the app again.")
        elif isinstance(error, ReplicaConfirmationError):  # done on the primary (a deletion): said as it is
            self.term.error(f"{detail}.")
        elif isinstance(error, RedisUnavailableError):
            if restarted is None:
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
        """Start the embedded server again if it went away; False (and one log line) if that failed.

        Blocking (a file lock, a subprocess, up to 10 s of waiting for the socket): a coroutine calls it
        through ``asyncio.to_thread``.
        """
        if self.server is None:
            return False
        try:
            self.server.ensure_running()
        except Exception as error:
            log.warning("Could not restart the embedded Valkey server: %s", self._one_line(error))
            return False
        return True

    # -- a turn --------------------------------------------------------------------------------

    def send(self, prompt: str) -> None:
        """Run one turn, its reply streamed to the terminal; Ctrl-C stops it and nothing is saved."""
        try:
            self.run(self._stream_reply(prompt))
        except Interrupted:
            self.term.say()
            self.term.error("Stopped. Nothing from this turn was saved; you can send it again.")

    async def _stream_reply(self, prompt: str) -> None:
        from lab11_persistence.console.deferred import (
            CATCH_UP_NOTICE,
            RedisError,
            RedisUnavailableError,
            ReplicaConfirmationError,
            asyncio,
        )

        CATCH_UP_NOTICE.set(self._say_catching_up)  # this task's context only
        conversation = self.conversation()
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
            self.stop_if_a_key_is_missing(failure)
            if isinstance(failure, ReplicaConfirmationError):  # saved on the primary: said, never sent again
                self.term.error(f"{self._one_line(failure)}; it is not sent again, and the thread goes on.")
            elif isinstance(failure, (RedisUnavailableError, RedisError)):
                if started:
                    self.term.error("The reply above could not be saved, so this turn is not in the history.")
                restarted = None
                if isinstance(failure, RedisUnavailableError):  # off the loop: the fold and spinner go on
                    restarted = await asyncio.to_thread(self._restart_embedded_server)
                self.report(failure, restarted=restarted)
            else:
                self.report(failure, during_turn=True)
            return
        if not started:
            self.term.say(self.term.paint("assistant: ", "1;32") + "(empty reply)", end="")
        self.term.say()

    def _say_catching_up(self, count: int) -> None:
        self.term.notice(f"Summarizing {counted(count, 'earlier message')} of this thread before your turn…")

    # -- stored text, shown inert --------------------------------------------------------------

    def print_history(self, transcript: Transcript) -> None:
        """The thread's summary, if it has one, then its messages, oldest first, numbered by their place in the
        whole conversation (after the ones trimming removed, which live on only in the summary)."""
        messages, removed = transcript.messages, transcript.removed
        if transcript.summary is not None:
            self.term.say(self.term.paint(summary_heading(transcript.summary_covers), "1"))
            self.term.say(f"  {inert(transcript.summary)}")
            if removed:
                self.term.say(removed_note(removed))
        if not messages:
            self.term.say(f"No messages in {self.redis_key} yet.")
            return
        self.term.say(history_heading(self.redis_key, len(messages), removed))
        width = max(3, len(str(removed + len(messages))))
        for index, (role, text) in enumerate(messages, start=removed + 1):
            role, text = inert_line(role), inert(text)
            if self.term.colour:
                label, style = ROLE_STYLES.get(role, (role, "1"))
                self.term.say(f"{index:>{width}} {self.term.paint(f'{label:>9}', style)} │ {text}")
            else:
                self.term.say(f"{index}. {role}: {text}")

    def print_loaded(self, count: int, state: dict[str, Any]) -> None:
        """Which thread was loaded, and its store state (as the lab shows it), credentials never among it."""
        self.term.say(f"Loaded thread {inert_line(self.redis_key)} ({counted(count, 'message')}).")
        shown = ", ".join(f"{name}={inert_line(str(value))}" for name, value in state.items() if value is not None)
        self.term.say(self.term.paint(f"Store state: {shown}", "2"))

    def pick_thread(self, saved: list[SavedThread], verb: str) -> SavedThread | None:
        """Show the saved threads numbered and ask for one; None to go back."""
        under = inert_line(self.layout.thread_key_prefix)
        if not saved:
            self.term.say(f"No saved threads under '{under}' yet. Send a message first (option 1).")
            return None
        self.term.say(f"Saved threads under '{under}' (most recent first):")
        for number, thread in enumerate(saved, start=1):
            current = "  (current)" if thread.thread_id == self.thread_id else ""
            preview = f'  "{inert_line(thread.preview)}"' if thread.preview else ""
            key, messages = inert_line(thread.redis_key), counted(thread.message_count, "message")
            self.term.say(f"  {number}) {key}  {messages}{preview}{current}")
        while True:
            answer = self.ask(f"{verb} which thread? (1-{len(saved)}, Enter to go back): ")
            if not answer:
                return None
            if answer.isdigit() and 1 <= int(answer) <= len(saved):
                return saved[int(answer) - 1]
            self.term.error(f"Please type a number from 1 to {len(saved)}, or press Enter to go back.")

    def confirm_delete(self, thread: SavedThread) -> bool:
        """The same (y/N) question as ``lab11 delete``."""
        answer = self.ask(delete_question(thread.redis_key, thread.message_count))
        if answer is None:
            return False
        if not said_yes(answer):
            self.term.say("Nothing deleted.")
            return False
        return True

    def said_deleted(self, thread: SavedThread) -> None:
        self.term.say(f"Deleted {inert_line(thread.redis_key)}.")
        if thread.thread_id == self.thread_id:
            self.term.say("That was the current thread: your next message starts it again.")

    # -- exit ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; never raises."""
        if self.loop is None:
            return
        try:
            if self._conversation is not None:
                self.loop.run_until_complete(self._conversation.aclose())
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
