"""Issue 24 end to end: the real program with LAB11_ENCRYPTION_KEYS set, in a pseudo-terminal.

Tell a fact, exit, start again, load the thread, and the offline model recalls it, while every entry
the embedded server holds is sealed. A key dropped too early ends the app with one line naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab11_persistence.redis_history.sealing import is_sealed
from tests.support.app_driver import FIRST, QUESTION, LabApp, assert_clean, chat_twice_and_exit, embedded_redis
from tests.support.encryption_keys import key_entry

pytestmark = pytest.mark.app


def test_a_sealed_thread_is_recalled_after_a_restart(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    keys = key_entry("k1")
    key = chat_twice_and_exit(start_app, {"LAB11_ENCRYPTION_KEYS": keys})
    with embedded_redis(data_dir) as client:
        stored = client.lrange(key, 0, -1)
    assert len(stored) == 4 and all(map(is_sealed, stored))
    # Phrases with a space: an envelope (URL-safe base64) never holds one, where a short word like "Ada"
    # turns up by chance in about one run in a few hundred.
    assert not [entry for entry in stored if "Lisbon" in entry or "name is Ada" in entry]

    app = start_app({"LAB11_ENCRYPTION_KEYS": keys})
    app.menu()
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    assert f'"{FIRST[:40]}' in app.transcript  # the listing's preview, opened
    app.choose("1")
    app.expect_exact(f"Loaded thread {key} (4 messages).")
    app.menu()
    reply = app.say(QUESTION)

    assert "Your name is Ada." in reply and "You want to go to Lisbon." in reply, reply
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_a_missing_key_ends_the_app_with_one_line_naming_it(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    key = chat_twice_and_exit(start_app, {"LAB11_ENCRYPTION_KEYS": key_entry("dropped")})
    with embedded_redis(data_dir) as client:
        before = client.lrange(key, 0, -1)

    app = start_app({"LAB11_ENCRYPTION_KEYS": key_entry("other")})
    app.menu()
    app.choose("3")
    status = app.finish()

    assert status == 2, app.transcript
    assert "'dropped'" in app.transcript and "LAB11_ENCRYPTION_KEYS" in app.transcript
    assert_clean(app.transcript)
    with embedded_redis(data_dir) as client:
        assert client.lrange(key, 0, -1) == before
