"""Start-up of the lab's app: the background imports, the Redis to use, the start-up line, and the frame
around the menu (signals, one-line set-up errors, clean exit). Which Agent Framework it starts on is
``framework_choice``.

The menu is printed before the Agent Framework, the model SDK and the Redis client are imported:
they load in a background thread while the user reads it, and the first action that needs them
waits (``ConversationOpener``). ``app.py`` hands in what it builds once they are in.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from lab11_persistence.config import DEFAULT_OPENAI_MODEL, EXIT_OK, Settings, SetupError
from lab11_persistence.console.framework_choice import (
    INSTALL_HINT,
    check_framework_asked,
    framework_asked,
    framework_generation,
)
from lab11_persistence.console.menu import Conversation, MenuSession
from lab11_persistence.console.terminal import Terminal, configure_logging
from lab11_persistence.counting import counted
from lab11_persistence.frameworks import LAB, REQUIRED_FRAMEWORK, V1
from lab11_persistence.redis_history.urls import describe_redis_url  # standard library only
from lab11_persistence.server.choice import redis_for

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from lab11_persistence.server.embedded_server import EmbeddedServer

#: What ``app.py`` builds once the framework is in: (settings, redis_url, thread_id, generation) -> Conversation.
OpenConversation = Callable[[Settings, str, str, str], Conversation]


# -- background loading of the heavy modules ------------------------------------------


_LOADERS: list[threading.Thread] = []


class HeavyImports:
    """Imports the Agent Framework, the model SDK and the Redis client in a daemon thread."""

    def __init__(self, settings: Settings, generation: str) -> None:
        self._settings = settings
        self._generation = generation
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="lab11-imports", daemon=True)
        self._thread.start()
        _LOADERS.append(self._thread)

    def _load(self) -> None:
        try:
            import asyncio  # noqa: F401

            import agent_framework

            needed = ("ChatAgent", "ChatMessageStore", "AgentThread") if self._generation == LAB else ("Agent",)
            missing = [name for name in needed if not hasattr(agent_framework, name)]
            if missing:
                raise SetupError(
                    f"The installed Agent Framework lacks {', '.join(missing)}: this lab needs "
                    f"agent-framework-core {REQUIRED_FRAMEWORK}. Run: {INSTALL_HINT}"
                )
            self.wiring().preload(self._settings)  # the store or provider, and the model's client
        except BaseException as error:  # reported by wait(), in the main thread
            self.error = error

    def wiring(self) -> ModuleType:
        """The package's adapter for this release (``lab_release.agent`` or ``v1.agent``)."""
        if self._generation == LAB:
            from lab11_persistence.lab_release import agent

            return agent
        from lab11_persistence.v1 import agent as agent_v1

        return agent_v1

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Block until loaded (interruptible by Ctrl-C); raise SetupError if loading failed."""
        while self._thread.is_alive():
            self._thread.join(0.05)
        if self.error is None:
            return
        if isinstance(self.error, SetupError):
            raise self.error
        if isinstance(self.error, ImportError) and "agent_framework" in str(self.error):
            raise SetupError(f"This lab needs agent-framework-core {REQUIRED_FRAMEWORK}. Run: {INSTALL_HINT}")
        detail = f"{type(self.error).__name__}: {self.error}".splitlines()[0]
        raise SetupError(f"Could not load the app's libraries ({detail}). Run: pip install -r requirements.txt")


class ConversationOpener:
    """What the menu calls on its first action: ``app.py``'s conversation, once the imports are in."""

    def __init__(
        self, settings: Settings, redis_url: str, generation: str, open_conversation: OpenConversation
    ) -> None:
        self._settings, self._redis_url, self._generation = settings, redis_url, generation
        self._open = open_conversation
        self._imports: HeavyImports | None = None

    def start(self) -> None:
        """Begin loading (called once the menu is on screen, so that printing it is not slowed)."""
        if self._imports is None:
            self._imports = HeavyImports(self._settings, self._generation)

    @property
    def ready(self) -> bool:
        return self._imports is not None and self._imports.done

    def __call__(self, thread_id: str) -> Conversation:
        self.start()
        assert self._imports is not None
        self._imports.wait()
        return self._open(self._settings, self._redis_url, thread_id, self._generation)


# -- the frame around the menu ------------------------------------------------------------


def url_host(url: str | None) -> str:
    """``scheme://host[:port]`` of a URL: enough to say where a service is, nothing secret."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unparsable URL"
    return f"{parts.scheme}://{host}{port}" if parts.scheme else host


def home_relative(path: Path) -> str:
    """``~/...`` for paths under the home directory, else the path as it is."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def describe_model(settings: Settings) -> str:
    """Which model, and what of a thread it is sent."""
    kind = settings.model_kind
    if kind == "azure":
        model = f"Azure OpenAI deployment {settings.aoai_deployment!r} at {url_host(settings.aoai_endpoint)}"
    elif kind == "openai":
        where = f" at {url_host(settings.openai_base_url)}" if settings.openai_base_url else ""
        model = f"OpenAI model {settings.openai_chat_model_id or DEFAULT_OPENAI_MODEL!r}{where}"
    else:
        model = "the offline model"
    if settings.context_messages is None:
        return model
    return f"{model}, sent the newest {counted(settings.context_messages, 'message')} and a summary of older ones"


def startup_line(settings: Settings, server: EmbeddedServer | None) -> str:
    """Which Redis and which model, in one line, and what to set to use your own."""
    if server is not None:
        redis_part = f"embedded Valkey (data in {home_relative(server.data_dir)})"
    else:
        redis_part = f"Redis at {describe_redis_url(settings.redis_url or '')}"
    line = f"Using {redis_part} and {describe_model(settings)}"
    hints = []
    if server is not None:
        hints.append("REDIS_URL")
    if settings.model_kind == "offline":
        hints.append("AOAI_ENDPOINT+AOAI_DEPLOYMENT")
    return line + (f"; set {' / '.join(hints)} to use your own." if hints else ".")


def _raise_system_exit(signum: int, _frame: Any) -> NoReturn:
    raise SystemExit(128 + signum)


def run_app(
    settings: Settings,
    open_conversation: OpenConversation,
    run_menu: Callable[[MenuSession], int],
    arguments: Sequence[str] = (),
) -> int:
    """Set up the terminal and Redis, run the menu, and close everything; returns the exit status.

    ``arguments``: the app's own (``--framework 1.x``), never ignored.
    """
    term = Terminal(settings)
    configure_logging(settings, term)
    server: EmbeddedServer | None = None
    session: MenuSession | None = None
    for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_system_exit)
    try:
        asked = framework_asked(arguments)
        generation = framework_generation()
        check_framework_asked(asked, generation)
        settings.check()
        redis_url, server = redis_for(settings)
        opener = ConversationOpener(settings, redis_url, generation, open_conversation)
        session = MenuSession(settings, term, opener, server)
        term.say(term.paint("Lab 11 — chat history in Redis that outlives the app", "1"))
        term.say(startup_line(settings, server))
        if generation == V1:
            term.say("On Agent Framework 1.x: the same threads, through RedisHistoryProvider.")
        return run_menu(session)
    except SetupError as error:
        for line in error.lines:
            term.error(settings.redact(line))
        return error.exit_status
    except KeyboardInterrupt:
        term.say()
        return EXIT_OK
    finally:
        if session is not None:
            session.close()
        if server is not None:
            server.release()


def exit_with(status: int) -> NoReturn:
    """Leave with ``status``, even while the background imports still run."""
    if any(thread.is_alive() for thread in _LOADERS):
        # Leaving while the background imports still run (say, Ctrl-C at the first menu):
        # interpreter shutdown could wait forever on an import lock that thread holds.
        # Everything is closed and released by now, so skip the shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
