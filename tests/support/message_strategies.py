"""Generated messages of the lab's release (hypothesis), for the tests that store or convert them."""

from __future__ import annotations

from agent_framework import ChatMessage, Content
from hypothesis import strategies as st

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24)
properties = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=3)

contents = st.one_of(
    st.builds(Content.from_text, text=st.text(max_size=200), additional_properties=properties),
    st.builds(
        Content.from_function_call,
        call_id=names,
        name=names,
        arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4) | st.text(max_size=30),
    ),
    st.builds(Content.from_function_result, call_id=names, result=json_values | st.text(max_size=100)),
    st.builds(
        Content.from_uri,
        uri=st.sampled_from(["https://example.org/map.png", "https://example.org/a b?x=1#f"]),
        media_type=st.sampled_from(["image/png", "text/html"]),
    ),
    st.builds(Content.from_data, data=st.binary(max_size=64), media_type=st.just("application/octet-stream")),
)

#: Every role, zero to four contents of the kinds above, optional author and id, extra properties.
messages = st.builds(
    ChatMessage,
    role=st.sampled_from(["user", "assistant", "system", "tool"]),
    contents=st.lists(contents, max_size=4),
    author_name=st.none() | names,
    message_id=st.none() | names,
    additional_properties=properties,
)
