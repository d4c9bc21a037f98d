from __future__ import annotations

import pytest

from aichats_core import Finish, ImageResponse, Message, ResultEventAdapter, TextChunk, Usage
from aichats_core._models import validate_messages
from aichats_core.errors import InvalidRequestError


def test_dicts_and_messages_are_validated_into_messages() -> None:
    messages = validate_messages(
        [{"role": "system", "content": "Be brief."}, Message(role="user", content="Hi")]
    )
    assert messages == (
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hi"),
    )


def test_a_bare_string_is_one_user_message() -> None:
    assert validate_messages("Hi") == (Message(role="user", content="Hi"),)


def test_a_list_of_messages_is_passed_through_without_copying() -> None:
    messages = [Message(role="user", content="Hi")]
    assert validate_messages(messages)[0] is messages[0]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ([{"role": "robot", "content": "x"}], "messages[0]['role']"),
        ([{"role": "user", "content": 42}], "messages[0]['content']"),
        ([{"role": "user"}], "messages[0]['content']"),
        ([{"role": "user", "content": "x", "name": "bob"}], "messages[0]['name']"),
        ([{"role": "user", "content": "x"}, "oops"], "messages[1]"),
    ],
)
def test_bad_messages_raise_a_readable_invalid_request_error(
    bad: list[object], expected: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(bad)  # type: ignore[arg-type]
    assert expected in str(caught.value)
    assert "'role': 'system'|'user'|'assistant'" in str(caught.value)


def test_no_messages_is_an_error() -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        validate_messages([])


def test_message_supports_item_access_for_ported_providers() -> None:
    message = Message(role="user", content="Hi")
    assert (message["role"], message["content"]) == ("user", "Hi")
    with pytest.raises(KeyError):
        message["name"]


def test_events_are_frozen_values() -> None:
    chunk = TextChunk(text="a")
    with pytest.raises(ValueError, match="frozen"):
        chunk.text = "b"  # type: ignore[misc]
    assert chunk == TextChunk(text="a")


@pytest.mark.parametrize(
    "event",
    [
        TextChunk(text="hi"),
        ImageResponse(images=["data:image/png;base64,AA=="], alt="cat"),
        Usage(prompt_tokens=3, completion_tokens=4),
        Finish(provider="aichats", model="gpt-4"),
    ],
)
def test_events_round_trip_through_json_by_their_kind(event: object) -> None:
    assert ResultEventAdapter.validate_json(event.model_dump_json()) == event  # type: ignore[attr-defined]


def test_an_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="kind"):
        ResultEventAdapter.validate_python({"kind": "video", "url": "x"})
