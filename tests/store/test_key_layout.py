"""The key layouts (``redis_history.keys``): the lab's ``{prefix}:{thread}``, and Microsoft's scoped keys.

The scoped keys are compared with Microsoft's own provider in tests/v1/test_scoped_keys_match_microsofts.py
(it needs Agent Framework 1.x); here, what holds on any release: the notes' examples, the argument
checks, every key naming its thread back, and what an ACL pattern for one tenant covers.
"""

from __future__ import annotations

import fnmatch

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.keys import KeyLayout, key_names_thread, segment

pytestmark = pytest.mark.fast

ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=120)
awkward = st.sampled_from(["a|b:c", "~x", "tenant|1:~x", "Ünïcødé", "CON", "con.txt", ".hidden", "end.", "x" * 400])


def test_the_notes_examples() -> None:
    assert (
        KeyLayout.resolve("lab11", tenant_id="tenant|1:~x", application_id="travel-app", agent_id="planner").key(
            "thread_abc"
        )
        == "lab11|v2|~redis-tenant-orsw4yloor6dcot6pa|travel-app|planner|redis_memory|thread_abc"
    )
    assert (
        KeyLayout.resolve(application_id="app").key("a|b:c")
        == "chat_messages|v2|~none|app|~none|redis_memory|~redis-session-mf6geotd"
    )


def test_no_scope_argument_is_the_labs_layout() -> None:
    layout = KeyLayout.resolve("lab11")
    assert (layout.scoped, layout.key("thread_1"), layout.index_key) == (
        False,
        "lab11:thread_1",
        "lab11.recent-threads",
    )
    assert KeyLayout.resolve("lab11", key_format="legacy").key("thread_1") == "lab11:thread_1"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key_format": "scoped"}, "application_id must be a non-empty string when key_format='scoped'"),
        ({"tenant_id": "acme"}, "application_id must be a non-empty string when key_format='scoped'"),
        ({"application_id": ""}, "application_id must be a non-empty string when key_format='scoped'"),
        ({"application_id": "app", "tenant_id": ""}, "tenant_id must be non-empty when supplied"),
        ({"application_id": "app", "agent_id": ""}, "agent_id must be non-empty when supplied"),
        (
            {"application_id": "app", "key_format": "legacy"},
            "tenant_id, application_id, and agent_id cannot be used with key_format='legacy'",
        ),
        ({"key_format": "v3"}, "key_format must be 'scoped' or 'legacy'"),
    ],
)
def test_microsofts_argument_checks(arguments: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        KeyLayout.resolve("lab11", **arguments)


def test_a_scoped_session_must_be_named() -> None:
    with pytest.raises(ValueError, match="session_id must be a non-empty string"):
        KeyLayout.resolve(application_id="app").key("")


@given(
    tenant=st.none() | ids | awkward, agent=st.none() | ids | awkward, application=ids | awkward, thread=ids | awkward
)
def test_every_scoped_key_names_its_thread_back_or_is_a_digest(
    tenant: str | None, agent: str | None, application: str, thread: str
) -> None:
    layout = KeyLayout.resolve("lab11", tenant_id=tenant, application_id=application, agent_id=agent)
    key = layout.key(thread)
    assert key.startswith(layout.thread_key_prefix) and key.startswith(layout.tenant_prefix)
    assert key.count("|") == 6
    if "~redis-session-sha256-" in key:
        assert layout.thread_id_of(key) is None  # only a digest of the id is in the key
    else:
        assert layout.thread_id_of(key) == thread
    assert key_names_thread(key, thread)
    assert layout.thread_id_of(layout.index_key) is None  # the index is never a thread


@given(thread=ids | awkward)
def test_the_labs_keys_name_their_thread_back(thread: str) -> None:
    layout = KeyLayout.resolve("lab11")
    assert layout.thread_id_of(layout.key(thread)) == thread
    assert key_names_thread(layout.key(thread), thread)


def test_segments_literal_encoded_and_digested() -> None:
    assert segment("thread_1-a.b", "~p-") == "thread_1-a.b"
    for not_literal in ("Thread", "a b", "a|b", ".a", "a.", "con", "com1.txt", "é", ""):
        assert segment(not_literal, "~p-").startswith("~p-")
    assert segment("x" * 1000, "~p-") == "x" * 1000  # a literal-safe value stays literal at any length
    assert segment("X" * 200, "~p-").startswith("~p-sha256-")


def test_keys_of_other_scopes_are_not_threads_of_this_one() -> None:
    ours = KeyLayout.resolve("lab11", tenant_id="acme", application_id="app")
    theirs = KeyLayout.resolve("lab11", tenant_id="acme2", application_id="app")
    assert ours.thread_id_of(theirs.key("thread_1")) is None
    assert ours.thread_id_of("lab11:thread_1") is None
    assert ours.thread_id_of(ours.thread_key_prefix + "thread_1|extra") is None
    assert ours.thread_id_of(ours.thread_key_prefix + "~redis-session-mfrggzdfmy") is None  # "abcdef" is literal


def _covered(patterns: tuple[str, ...], key: str) -> bool:
    """Whether an ACL key pattern matches ``key`` (the globs here use only ``*``)."""
    return any(fnmatch.fnmatchcase(key, pattern[1:]) for pattern in patterns)


@given(tenant=ids | awkward, other=ids | awkward, thread=ids | awkward)
def test_a_tenants_acl_patterns_cover_its_keys_and_no_other_tenants(tenant: str, other: str, thread: str) -> None:
    history = RedisHistory(fakeredis.FakeAsyncRedis(), key_prefix="lab11", tenant_id=tenant, application_id="app")
    patterns = history.layout.tenant_acl_patterns()
    for key in (history.key(thread), history.index_key, history.write_token_key(thread), history.side_key(thread, "x")):
        assert _covered(patterns, key), key
    elsewhere = RedisHistory(fakeredis.FakeAsyncRedis(), key_prefix="lab11", tenant_id=other, application_id="app")
    if other != tenant:
        for key in (elsewhere.key(thread), elsewhere.index_key, elsewhere.write_token_key(thread)):
            assert not _covered(patterns, key), key
    assert not _covered(patterns, f"lab11:{thread}")


def test_side_keys_share_the_threads_hash_slot() -> None:
    from redis.crc import key_slot

    history = RedisHistory(fakeredis.FakeAsyncRedis(), key_prefix="lab11", tenant_id="acme", application_id="app")
    key = history.key("thread_1")
    assert history.write_token_key("thread_1") == "{" + key + "}:last-write"
    assert history.side_key("thread_1", "summary") == "{" + key + "}:summary"
    assert key_slot(history.side_key("thread_1", "summary").encode()) == key_slot(key.encode())


def test_one_index_per_scope_inside_the_scope() -> None:
    a = KeyLayout.resolve("lab11", tenant_id="acme", application_id="app")
    b = KeyLayout.resolve("lab11", tenant_id="acme", application_id="app", agent_id="planner")
    assert a.index_key == "lab11|v2|acme|app|~none|redis_memory|~recent-threads"
    assert b.index_key != a.index_key and b.index_key.startswith(b.thread_key_prefix)
