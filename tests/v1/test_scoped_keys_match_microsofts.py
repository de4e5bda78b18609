"""Our scoped keys are Microsoft's, character for character, and so are the argument checks.

``KeyLayout`` (framework-free) re-implements the key of ``agent_framework_redis.RedisHistoryProvider``
1.0.0b261022; here both are asked for the same arguments: generated ids with ``|``, ``:``, ``~``,
upper case, non-ASCII, reserved Windows names and lengths past the digest limit.

Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import warnings

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

import redis.asyncio as redis
from agent_framework_redis import RedisHistoryProvider as MicrosoftProvider
from hypothesis import given, settings
from hypothesis import strategies as st

from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.v1.history_provider import RedisHistoryProvider

pytestmark = pytest.mark.v1

CLIENT = redis.Redis(decode_responses=True)  # never connects: keys are computed, not used
any_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=140)
literal_ish = st.text(alphabet="abcxyz0189._-|:~ ", min_size=1, max_size=30)
awkward = st.sampled_from(
    ["a|b:c", "~x", "~none", "tenant|1:~x", "Ünïcødé", "CON", "con.txt", "lpt9", ".a", "a.", "a ", "A", "x" * 300]
)
long_text = st.text(min_size=100, max_size=400)
ids = any_text | literal_ish | awkward | long_text
maybe = st.none() | ids


def _microsofts_key(session: str, source_id: str, key_prefix: str, **scope: str | None) -> str:
    return MicrosoftProvider(source_id, redis_client=CLIENT, key_prefix=key_prefix, **scope)._redis_key(session)


@settings(max_examples=400)
@given(tenant=maybe, application=ids, agent=maybe, source=ids, session=ids, prefix=st.just("lab11") | ids)
def test_the_same_key_as_microsofts_provider(
    tenant: str | None, application: str, agent: str | None, source: str, session: str, prefix: str
) -> None:
    scope = {"tenant_id": tenant, "application_id": application, "agent_id": agent}
    expected = _microsofts_key(session, source, prefix, **scope)
    assert KeyLayout.resolve(prefix, source_id=source, **scope).key(session) == expected
    ours = RedisHistoryProvider(source, redis_client=CLIENT, key_prefix=prefix, **scope)
    assert ours.redis_key(session) == expected


@given(session=ids)
def test_the_legacy_key_is_microsofts_legacy_key(session: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = MicrosoftProvider(redis_client=CLIENT, key_prefix="lab11", key_format="legacy")
    assert RedisHistoryProvider(redis_client=CLIENT, key_prefix="lab11").redis_key(session) == theirs._redis_key(
        session
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"key_format": "scoped"},
        {"application_id": ""},
        {"application_id": "app", "tenant_id": ""},
        {"application_id": "app", "agent_id": ""},
        {"application_id": "app", "key_format": "legacy"},
        {"tenant_id": "acme", "key_format": "legacy"},
        {"key_format": "v3"},
    ],
)
def test_the_same_arguments_are_refused_with_the_same_words(arguments: dict[str, str]) -> None:
    with pytest.raises(ValueError) as theirs, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MicrosoftProvider(redis_client=CLIENT, **arguments)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as ours:
        RedisHistoryProvider(redis_client=CLIENT, **arguments)
    assert str(ours.value) == str(theirs.value)


def test_without_a_scope_argument_the_labs_layout_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        provider = RedisHistoryProvider(redis_client=CLIENT, key_prefix="lab11")
    assert (provider.key_format, provider.redis_key("thread_1")) == ("legacy", "lab11:thread_1")


def test_microsofts_attribute_names() -> None:
    provider = RedisHistoryProvider(
        redis_client=CLIENT, key_prefix="lab11", tenant_id="acme", application_id="app", agent_id="planner"
    )
    assert (provider.key_prefix, provider.tenant_id, provider.application_id, provider.agent_id) == (
        "lab11",
        "acme",
        "app",
        "planner",
    )
    assert provider.key_format == "scoped"
    assert "tenant_id='acme'" in repr(provider) and "application_id='app'" in repr(provider)
