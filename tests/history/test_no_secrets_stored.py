"""No credential reaches the database file or its WAL, whatever an error message quotes."""

from __future__ import annotations

from pathlib import Path

from history_helpers import make_turn

from aichats_core.history import HistoryStore

PROXY_PASSWORD = "pr0xyPassw0rd"
BEARER = "sk-live-0123456789abcdef"
API_KEY = "AKIAXYZ987654321"
COOKIE_VALUES = ("sessval0123456", "csrfval6543210")
KNOWN = "hunter2hunter2"
SECRETS = (PROXY_PASSWORD, BEARER, API_KEY, *COOKIE_VALUES, KNOWN)

MESSAGES = (
    f"cannot connect to proxy http://alice:{PROXY_PASSWORD}@proxy.example:3128",
    f"HTTP 401 for request with headers {{'Authorization': 'Bearer {BEARER}'}}",
    f"GET https://api.example/v1/chat?api_key={API_KEY}&stream=1 failed",
    f"rejected cookies session={COOKIE_VALUES[0]}; csrftoken={COOKIE_VALUES[1]}",
    f"the service echoed {KNOWN} back",
)


def _raw_bytes(db_path: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(db_path.parent.iterdir()))


def test_errors_and_attempts_are_redacted_in_the_file_and_its_wal(db_path: Path) -> None:
    with HistoryStore(db_path, secrets=[KNOWN]) as store:
        for number, message in enumerate(MESSAGES):
            store.record(
                make_turn(
                    f"c{number}",
                    "a harmless prompt",
                    status="failed",
                    answer="",
                    error=message,
                    attempts=(
                        {"provider": "first", "error": "ProviderHTTPError", "message": message},
                    ),
                    options=("proxy", "cookies", "api_key"),
                )
            )
        assert (db_path.parent / "history.db-wal").stat().st_size > 0  # the turns are there
        written = _raw_bytes(db_path)
        stored = {s.id: store.conversation(s.id).turns[0] for s in store.conversations(None)}
    closed = _raw_bytes(db_path)  # after the checkpoint that closing makes
    for secret in SECRETS:
        assert secret.encode() not in written, secret
        assert secret.encode() not in closed, secret
    assert len(stored) == len(MESSAGES)
    # What is not secret stays readable.
    assert stored["c0"].error == "cannot connect to proxy http://***@proxy.example:3128"
    assert "api.example/v1/chat?api_key=" in stored["c2"].attempts[0]["message"]
    assert all(turn.options == ("proxy", "cookies", "api_key") for turn in stored.values())


def test_prompts_and_answers_are_kept_verbatim(store: HistoryStore) -> None:
    prompt = "my text mentions api_key=notasecret and http://a:b@c"
    store.record(make_turn("a", prompt, answer=prompt))
    [turn] = store.conversation("a").turns
    assert (turn.prompt, turn.answer) == (prompt, prompt)
