"""Lab 11: chat with an agent whose history lives in Redis, and resume it after a restart.

    python 11-external-persistence/app.py        (or the installed ``lab11`` command)

With nothing configured it uses a private Valkey server (data in the user's data
directory) and an offline model that answers from the conversation history it is
sent. Set REDIS_URL and AOAI_ENDPOINT + AOAI_DEPLOYMENT (or OPENAI_API_KEY) to use
your own; see ``config.py``.

Start-up is kept short on purpose: the menu is printed before the Agent Framework,
the model SDK and the Redis client are imported; they load in a background thread
while the user reads the menu, and the first action that needs them waits for it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `python path/to/app.py` from anywhere, and the `lab11` command
    sys.path.insert(0, str(HERE))

import config  # noqa: E402  (light: standard library only, python-dotenv only when a .env exists)
from config import KEY_PREFIX, MAX_MESSAGES, Settings  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from agent_framework import AgentThread, ChatAgent, ChatMessage
    from embedded_server import EmbeddedServer
    from redis_chat_message_store import RedisChatMessageStore

REQUIRED_FRAMEWORK = "1.0.0b260130"
INSTALL_HINT = f"pip install agent-framework-core=={REQUIRED_FRAMEWORK}"
EXIT_OK, EXIT_REDIS, EXIT_SETUP = 0, 1, 2
THREADS_SHOWN = 20
AZURE_TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"

INSTRUCTIONS = (
    "You are a concise travel planner. Use every fact the user has told you earlier in this "
    "conversation (their name, where they want to go, dates, budget, likes and dislikes) and "
    "say which ones you are using. Answer in at most five short sentences."
)

MENU_CHOICES = (
    ("1", "Send a user message"),
    ("2", "Peek at Redis history"),
    ("3", "Load a saved Redis thread"),
    ("4", "Start a fresh thread"),
    ("0", "Exit"),
)


class SetupError(Exception):
    """Something the user must fix before the app can run; the message is one line."""

    def __init__(self, message: str, exit_status: int = EXIT_SETUP) -> None:
        super().__init__(message)
        self.exit_status = exit_status


# -- terminal helpers ----------------------------------------------------------------


class Terminal:
    """Where output goes, and whether it may use colour and a waiting indicator."""

    def __init__(self, settings: Settings) -> None:
        self.interactive = sys.stdout.isatty()
        self.colour = self.interactive and not settings.no_color
        self.transient_line = False  # the waiting indicator is on screen

    def say_transient(self, text: str) -> None:
        """A line that the next output replaces (the waiting indicator)."""
        print(f"\r{text}", end="", flush=True)
        self.transient_line = True

    def clear_transient_line(self) -> None:
        """Erase the waiting indicator, so that whatever is printed next starts on a clean line."""
        if self.transient_line:
            self.transient_line = False
            print("\r\x1b[K", end="", flush=True)

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def say(self, text: str = "", *, end: str = "\n") -> None:
        print(text, end=end, flush=True)

    def error(self, text: str) -> None:
        print(self.paint(text, "1;31"), flush=True)

    def ask(self, prompt: str) -> str:
        """One line from the user, stripped; EOFError at end of input, KeyboardInterrupt on Ctrl-C.

        Reads ``sys.stdin`` itself rather than calling ``input()``: on a terminal, ``input()``
        stops at a NUL byte (Ctrl-@ / Ctrl-Space) and silently waits for another line. GNU
        readline would fix that too, but it treats typed control keys as editing commands
        (Esc and digits repeat the next key thousands of times), which hostile input must not do.
        """
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.strip()


ROLE_STYLES = {
    "user": ("you", "1;36"),
    "assistant": ("assistant", "1;32"),
    "system": ("system", "2"),
    "tool": ("tool", "33"),
}


def message_text(message: ChatMessage) -> str:
    """A message's text flattened from its contents (non-text contents shown in brackets)."""
    parts: list[str] = []
    for content in message.contents or []:
        kind = getattr(content, "type", "")
        text = getattr(content, "text", None)
        if kind == "text" and text:
            parts.append(text)
        elif kind == "function_call":
            parts.append(f"[calls {getattr(content, 'name', '?')}]")
        elif kind == "function_result":
            parts.append(f"[tool result: {getattr(content, 'result', '')}]")
        elif kind and kind not in ("usage", "text_reasoning"):
            parts.append(f"[{kind}]")
    return " ".join(part.strip() for part in parts if part.strip())


def role_name(message: ChatMessage) -> str:
    role = message.role
    return str(getattr(role, "value", role))


# -- the lab's wiring: agent, store factory, thread --------------------------------


class StoreFactory:
    """The agent's ``chat_message_store_factory``: one ``RedisChatMessageStore`` per thread.

    ``next_thread_id`` lets the app name the thread before the framework asks for
    its store (the menu shows the key before anything is imported).
    """

    def __init__(self, redis_url: str, *, ssl_ca_certs: str | None = None, cluster: bool = False) -> None:
        self.redis_url = redis_url
        self.ssl_ca_certs = ssl_ca_certs
        self.cluster = cluster
        self.next_thread_id: str | None = None

    def __call__(self, thread_id: str | None = None) -> RedisChatMessageStore:
        from redis_chat_message_store import RedisChatMessageStore

        thread_id, self.next_thread_id = thread_id or self.next_thread_id, None
        return RedisChatMessageStore(
            redis_url=self.redis_url,
            thread_id=thread_id,
            key_prefix=KEY_PREFIX,
            max_messages=MAX_MESSAGES,
            ssl_ca_certs=self.ssl_ca_certs,
            cluster=self.cluster,
        )

    def __repr__(self) -> str:  # the URL may hold a password
        return f"StoreFactory(key_prefix={KEY_PREFIX!r}, max_messages={MAX_MESSAGES})"


_AGENT_CLASS: type | None = None


def _lab_agent_class() -> type:
    """``ChatAgent`` that saves a turn (the user's message and the reply) in one ``add_messages`` call.

    ``ChatAgent`` in 1.0.0b260130 calls ``thread.on_new_messages`` twice per turn (input,
    then response): if Redis went away between the two, the user's message would be
    saved without its reply. One call is one MULTI/EXEC in the store: all or nothing.
    """
    global _AGENT_CLASS
    if _AGENT_CLASS is None:
        from agent_framework import ChatAgent, ChatMessage

        class LabAgent(ChatAgent):  # type: ignore[misc, valid-type]
            async def _notify_thread_of_new_messages(  # type: ignore[override]
                self, thread: Any, input_messages: Any, response_messages: Any, **kwargs: Any
            ) -> None:
                def as_list(messages: Any) -> list[Any]:
                    return [messages] if isinstance(messages, ChatMessage) else list(messages or [])

                turn = [*as_list(input_messages), *as_list(response_messages)]
                if turn:
                    await thread.on_new_messages(turn)
                if thread.context_provider:  # as the framework's own version does
                    await thread.context_provider.invoked(input_messages, response_messages, **kwargs)

        _AGENT_CLASS = LabAgent
    return _AGENT_CLASS


def build_agent(
    redis_url: str, chat_client: Any = None, *, ssl_ca_certs: str | None = None, cluster: bool = False
) -> ChatAgent:
    """A concise travel-planner ``ChatAgent`` whose threads keep their history in Redis.

    ``cluster=True`` when ``redis_url`` is a Redis Cluster (``REDIS_CLUSTER=1``).
    """
    if chat_client is None:
        from offline_model import OfflineChatClient

        chat_client = OfflineChatClient()
    return _lab_agent_class()(
        chat_client=chat_client,
        name="TravelPlanner",
        instructions=INSTRUCTIONS,
        chat_message_store_factory=StoreFactory(redis_url, ssl_ca_certs=ssl_ca_certs, cluster=cluster),
    )


def create_thread(agent: ChatAgent, thread_id: str | None = None) -> tuple[AgentThread, RedisChatMessageStore]:
    """A new thread from the agent; checks that its store is the Redis store and returns both."""
    from redis_chat_message_store import RedisChatMessageStore

    factory = agent.chat_message_store_factory
    if isinstance(factory, StoreFactory):
        factory.next_thread_id = thread_id
    thread = agent.get_new_thread()
    store = thread.message_store
    if not isinstance(store, RedisChatMessageStore):
        raise TypeError(f"The agent's thread uses {type(store).__name__}, not RedisChatMessageStore.")
    return thread, store


def build_chat_client(settings: Settings) -> Any:
    """Azure OpenAI, OpenAI (or any OpenAI-compatible server), or the offline model."""
    kind = settings.model_kind
    if kind == "azure":
        from agent_framework.azure import AzureOpenAIChatClient

        auth: dict[str, Any] = {"api_key": settings.aoai_api_key}
        if not settings.aoai_api_key:
            # az login, managed identity, environment...; tokens are fetched (and refreshed) per request.
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider

            auth = {"ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), AZURE_TOKEN_SCOPE)}
        endpoint = settings.aoai_endpoint or ""
        if endpoint.startswith("http://"):
            # AzureOpenAISettings accepts only https endpoints; a local emulator (or the tests'
            # loopback server) speaks http, so hand the framework an SDK client built for it.
            from agent_framework.azure._shared import DEFAULT_AZURE_API_VERSION
            from openai import AsyncAzureOpenAI

            sdk_auth = (
                {"api_key": auth["api_key"]}
                if "api_key" in auth
                else {"azure_ad_token_provider": auth["ad_token_provider"]}
            )
            sdk_client = AsyncAzureOpenAI(
                azure_endpoint=endpoint,
                azure_deployment=settings.aoai_deployment,
                api_version=DEFAULT_AZURE_API_VERSION,
                **sdk_auth,
            )
            return AzureOpenAIChatClient(deployment_name=settings.aoai_deployment, async_client=sdk_client)
        return AzureOpenAIChatClient(endpoint=endpoint, deployment_name=settings.aoai_deployment, **auth)
    if kind == "openai":
        from agent_framework.openai import OpenAIChatClient

        return OpenAIChatClient(
            model_id=settings.openai_chat_model_id or config.DEFAULT_OPENAI_MODEL,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
        )
    from offline_model import OfflineChatClient

    return OfflineChatClient()


def describe_model(settings: Settings) -> str:
    kind = settings.model_kind
    if kind == "azure":
        return f"Azure OpenAI deployment {settings.aoai_deployment!r} at {config.url_host(settings.aoai_endpoint)}"
    if kind == "openai":
        where = f" at {config.url_host(settings.openai_base_url)}" if settings.openai_base_url else ""
        return f"OpenAI model {settings.openai_chat_model_id or config.DEFAULT_OPENAI_MODEL!r}{where}"
    return "the offline model"


# -- start-up checks that cost (almost) nothing ----------------------------------------


def check_framework_release() -> None:
    """Fail in one line if the installed Agent Framework is not the release the lab needs.

    Looks at the installed distribution's folder name rather than importing anything,
    so it costs a directory listing. The background import double-checks the API.
    """
    from importlib.util import find_spec

    spec = find_spec("agent_framework")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(f"The Agent Framework is not installed. Run: {INSTALL_HINT}")
    site = Path(next(iter(spec.submodule_search_locations))).parent
    found = sorted(
        entry.name[len("agent_framework_core-") : -len(".dist-info")]
        for entry in site.glob("agent_framework_core-*.dist-info")
    )
    if found and REQUIRED_FRAMEWORK not in found:
        raise SetupError(
            f"This lab needs agent-framework-core {REQUIRED_FRAMEWORK} (found {found[-1]}). Run: {INSTALL_HINT}"
        )


# -- background loading of the heavy modules ------------------------------------------


_LOADERS: list[threading.Thread] = []


class HeavyImports:
    """Imports the Agent Framework, the model SDK and the Redis client in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="lab11-imports", daemon=True)
        self._thread.start()
        _LOADERS.append(self._thread)

    def _load(self) -> None:
        try:
            import asyncio  # noqa: F401

            import agent_framework

            missing = [
                name for name in ("ChatAgent", "ChatMessageStore", "AgentThread") if not hasattr(agent_framework, name)
            ]
            if missing:
                raise SetupError(
                    f"The installed Agent Framework lacks {', '.join(missing)}: this lab needs "
                    f"agent-framework-core {REQUIRED_FRAMEWORK}. Run: {INSTALL_HINT}"
                )
            import redis_chat_message_store  # noqa: F401  (redis.asyncio, pydantic)

            kind = self._settings.model_kind
            if kind == "azure":
                import agent_framework.azure

                if not self._settings.aoai_api_key:
                    import azure.identity  # noqa: F401
            elif kind == "openai":
                import agent_framework.openai
            else:
                import offline_model  # noqa: F401
        except BaseException as error:  # reported by wait(), in the main thread
            self.error = error

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


# -- the interactive session -------------------------------------------------------------


class Interrupted(Exception):
    """Ctrl-C during an asynchronous action."""


class Session:
    """The running app: one agent, the current thread and its store, and the menu."""

    def __init__(self, settings: Settings, redis_url: str, terminal: Terminal, server: EmbeddedServer | None) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.term = terminal
        self.server = server
        self.imports: HeavyImports | None = None  # started once the menu is on screen
        self.thread_id = f"thread_{uuid.uuid4()}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.agent: ChatAgent | None = None
        self.thread: AgentThread | None = None
        self.store: RedisChatMessageStore | None = None

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

    def ensure_ready(self) -> None:
        """Wait for the background imports, then build the agent and the first thread (once)."""
        if self.agent is not None:
            return
        import asyncio

        if self.imports is None:
            self.imports = HeavyImports(self.settings)
        if not self.imports.done:
            self.term.say(self.term.paint("Loading the Agent Framework…", "2"))
        self.imports.wait()
        self.loop = asyncio.new_event_loop()
        self.agent = build_agent(
            self.redis_url,
            build_chat_client(self.settings),
            ssl_ca_certs=self.settings.redis_ca_cert,
            cluster=self.settings.redis_cluster and not self.settings.uses_embedded_redis,
        )
        self.thread, self.store = create_thread(self.agent, self.thread_id)

    # -- the menu ----------------------------------------------------------------------

    def show_menu(self) -> None:
        term = self.term
        term.say()
        term.say(f"Current Redis key: {term.paint(self.redis_key, '1')}")
        for key, label in MENU_CHOICES:
            term.say(f"  {key}) {label}")

    def loop_forever(self) -> int:
        actions = {"1": self.send_message, "2": self.peek_history, "3": self.load_thread, "4": self.fresh_thread}
        while True:
            self.show_menu()
            if self.imports is None:  # load the heavy modules while the user reads the menu
                self.imports = HeavyImports(self.settings)
            try:
                choice = self.term.ask("Choose an option: ")
            except (KeyboardInterrupt, EOFError):
                self.term.say()
                return EXIT_OK
            if choice == "0":
                return EXIT_OK
            action = actions.get(choice)
            if action is None:
                shown = "an empty choice" if not choice else repr(choice[:20])
                self.term.error(f"Please choose 1, 2, 3, 4 or 0 ({shown} is not on the menu).")
                continue
            try:
                self.ensure_ready()
                action()
            except Interrupted:
                self.term.say()
                self.term.error("Interrupted; back to the menu.")
            except KeyboardInterrupt:
                self.term.say()
                self.term.error("Interrupted; back to the menu.")
            except SetupError:
                raise
            except Exception as error:  # one line, never a traceback
                self.report(error)

    def report(self, error: BaseException, *, during_turn: bool = False) -> None:
        """One clear line for a failure, with no secret in it."""
        from redis.exceptions import RedisError
        from redis_chat_message_store import RedisPasswordRefusedError, RedisUnavailableError

        detail = self._one_line(error)
        sign_in = _in_chain(error, "ClientAuthenticationError")  # azure.core: no Azure credential worked
        if isinstance(error, RedisPasswordRefusedError):
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
        """The first line of an error's message, without secrets (some SDK errors run to pages)."""
        lines = [line for line in str(error).splitlines() if line.strip()]
        detail = self.settings.redact(" ".join(lines[0].split()) if lines else type(error).__name__).rstrip(".")
        return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", detail)  # the framework names classes by repr

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
        from redis_chat_message_store import RedisUnavailableError

        assert self.agent is not None and self.thread is not None
        indicator = WaitingIndicator(self.term) if self.term.interactive else None
        if indicator:
            indicator.start()
        started = False
        try:
            async for update in self.agent.run_stream(prompt, thread=self.thread):
                text = update.text
                if not text:
                    continue
                if not started:
                    if indicator:
                        await indicator.stop()
                    self.term.say(self.term.paint("assistant: ", "1;32"), end="")
                    started = True
                self.term.say(text, end="")
        except (RedisUnavailableError, RedisError) as error:
            if indicator:
                await indicator.stop()
            if started:
                self.term.say()
                self.term.error("The reply above could not be saved, so this turn is not in the history.")
            self.report(error)
            return
        except Exception as error:
            if indicator:
                await indicator.stop()
            if started:
                self.term.say()
            self.report(error, during_turn=True)
            return
        finally:
            if indicator:
                await indicator.stop()
        if not started:
            self.term.say(self.term.paint("assistant: ", "1;32") + "(empty reply)", end="")
        self.term.say()

    # -- 2: peek at Redis history ----------------------------------------------------------

    def peek_history(self) -> None:
        self.run_async(self._show_history())

    async def _show_history(self, messages: list[ChatMessage] | None = None) -> None:
        """Print the thread's history (read from Redis unless the caller just read it)."""
        assert self.store is not None
        if messages is None:
            messages = await self.store.list_messages()
        if not messages:
            self.term.say(f"No messages in {self.redis_key} yet.")
            return
        self.term.say(f"History of {self.redis_key} ({len(messages)} messages, oldest first):")
        for index, message in enumerate(messages, start=1):
            role = role_name(message)
            text = message_text(message)
            if self.term.colour:
                label, style = ROLE_STYLES.get(role, (role, "1"))
                self.term.say(f"{index:>3} {self.term.paint(f'{label:>9}', style)} │ {text}")
            else:
                self.term.say(f"{index}. {role}: {text}")

    # -- 3: load a saved Redis thread ------------------------------------------------------

    def load_thread(self) -> None:
        assert self.store is not None
        saved = self.run_async(self.store.list_saved_threads(limit=THREADS_SHOWN))
        if not saved:
            self.term.say(f"No saved threads under '{KEY_PREFIX}:' yet. Send a message first (option 1).")
            return
        self.term.say(f"Saved threads under '{KEY_PREFIX}:' (most recent first):")
        for number, thread in enumerate(saved, start=1):
            current = "  (current)" if thread.thread_id == self.thread_id else ""
            preview = f'  "{thread.preview}"' if thread.preview else ""
            plural = "" if thread.message_count == 1 else "s"
            self.term.say(f"  {number}) {thread.redis_key}  {thread.message_count} message{plural}{preview}{current}")
        while True:
            try:
                answer = self.term.ask(f"Load which thread? (1-{len(saved)}, Enter to go back): ")
            except (KeyboardInterrupt, EOFError):
                self.term.say()
                return
            if not answer:
                return
            if answer.isdigit() and 1 <= int(answer) <= len(saved):
                break
            self.term.error(f"Please type a number from 1 to {len(saved)}, or press Enter to go back.")
        self.run_async(self._switch_to(saved[int(answer) - 1].thread_id))

    async def _switch_to(self, thread_id: str) -> None:
        """Build a store for the chosen thread, attach it to a new AgentThread, close the old store."""
        from agent_framework import AgentThread

        assert self.agent is not None and self.store is not None
        factory = self.agent.chat_message_store_factory
        new_store = factory(thread_id=thread_id) if isinstance(factory, StoreFactory) else None
        if new_store is None:  # pragma: no cover - build_agent always installs a StoreFactory
            raise TypeError("The agent has no Redis store factory.")
        old_store = self.store
        self.thread, self.store, self.thread_id = AgentThread(message_store=new_store), new_store, thread_id
        await old_store.aclose()
        messages = await new_store.list_messages()  # the count below is what the history shows
        count = len(messages)
        self.term.say(f"Loaded thread {self.redis_key} ({count} message{'' if count == 1 else 's'}).")
        await self._show_history(messages)

    # -- 4: start a fresh thread -------------------------------------------------------------

    def fresh_thread(self) -> None:
        assert self.agent is not None and self.store is not None
        self.run_async(self.store.aclose())
        self.thread_id = f"thread_{uuid.uuid4()}"
        self.thread, self.store = create_thread(self.agent, self.thread_id)
        self.term.say(f"Started a fresh thread: {self.redis_key}")

    # -- 0: exit -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; never raises."""
        if self.loop is None:
            return
        try:
            if self.store is not None:
                self.loop.run_until_complete(self.store.aclose())
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


class WaitingIndicator:
    """A small spinner on the terminal until the first words of the reply arrive."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, terminal: Terminal) -> None:
        self.term = terminal
        self._task: Any = None

    def start(self) -> None:
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        import asyncio

        frame = 0
        while True:
            self.term.say_transient(f"{self.FRAMES[frame % len(self.FRAMES)]} waiting for the model…")
            frame += 1
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        import asyncio

        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.term.clear_transient_line()


# -- start-up --------------------------------------------------------------------------------


class _OneLineFormatter(logging.Formatter):
    """Log records as one line, with secrets masked and no tracebacks."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("%(levelname)s: %(message)s")
        self._settings = settings

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        record.levelname = record.levelname.lower()
        lines = super().format(record).splitlines() or [""]
        return self._settings.redact(lines[0])


class _TerminalLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log lines on stderr that never run into the waiting indicator's line."""

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(sys.stderr)
        self._terminal = terminal

    def emit(self, record: logging.LogRecord) -> None:
        self._terminal.clear_transient_line()
        super().emit(record)


def _configure_logging(settings: Settings, terminal: Terminal) -> None:
    handler = _TerminalLogHandler(terminal)
    handler.setFormatter(_OneLineFormatter(settings))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # azure.identity logs each failed sign-in at length; the app already says it in one line.
    logging.getLogger("azure").setLevel(logging.ERROR)


def _startup_line(settings: Settings, server: EmbeddedServer | None) -> str:
    if server is not None:
        redis_part = f"embedded Valkey (data in {config.home_relative(server.data_dir)})"
    else:
        redis_part = f"Redis at {config.describe_redis_url(settings.redis_url or '')}"
    line = f"Using {redis_part} and {describe_model(settings)}"
    hints = []
    if server is not None:
        hints.append("REDIS_URL")
    if settings.model_kind == "offline":
        hints.append("AOAI_ENDPOINT+AOAI_DEPLOYMENT")
    return line + (f"; set {' / '.join(hints)} to use your own." if hints else ".")


def _raise_system_exit(signum: int, _frame: Any) -> NoReturn:
    raise SystemExit(128 + signum)


def main() -> int:
    """The app; returns the exit status."""
    settings = config.load_settings()
    term = Terminal(settings)
    _configure_logging(settings, term)
    server: EmbeddedServer | None = None
    session: Session | None = None
    for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_system_exit)
    try:
        check_framework_release()
        if problem := settings.half_configured_model:
            raise SetupError(problem)
        if settings.redis_url:
            from redis_probe import RedisProbeError, probe_redis  # standard library only (ssl: ~30 ms)

            try:
                probe_redis(settings.redis_url, ca_cert=settings.redis_ca_cert)
            except RedisProbeError as error:
                raise SetupError(str(error), EXIT_REDIS) from None
            redis_url = settings.redis_url
        else:
            from embedded_server import EmbeddedServer, EmbeddedServerError

            try:
                server = EmbeddedServer(settings.data_dir).acquire()
            except (EmbeddedServerError, OSError) as error:
                raise SetupError(f"Could not start the embedded Valkey server: {error}", EXIT_REDIS) from None
            redis_url = server.url
        session = Session(settings, redis_url, term, server)
        term.say(term.paint("Lab 11 — chat history in Redis that outlives the app", "1"))
        term.say(_startup_line(settings, server))
        return session.loop_forever()
    except SetupError as error:
        term.error(settings.redact(str(error)))
        return error.exit_status
    except KeyboardInterrupt:
        term.say()
        return EXIT_OK
    finally:
        if session is not None:
            session.close()
        if server is not None:
            server.release()


def run() -> None:
    """Console entry point (``lab11``)."""
    status = main()
    if any(thread.is_alive() for thread in _LOADERS):
        # Leaving while the background imports still run (say, Ctrl-C at the first menu):
        # interpreter shutdown could wait forever on an import lock that thread holds.
        # Everything is closed and released by now, so skip the shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
