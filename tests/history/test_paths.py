"""Where the history lives on each platform, and the switch that turns recording off."""

from __future__ import annotations

from pathlib import Path

import pytest

from aichats_core._home import data_directory
from aichats_core.history import HISTORY_ENV, HistoryStore, default_path, history_enabled

HOME = Path.home()


def test_aichats_home_wins(tmp_path: Path) -> None:
    environ = {"AICHATS_HOME": str(tmp_path), "XDG_DATA_HOME": "/elsewhere"}
    assert default_path(environ) == tmp_path / "history.db"


def test_the_store_defaults_to_aichats_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHATS_HOME", str(tmp_path))
    with HistoryStore() as store:
        assert store.path == tmp_path / "history.db"


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", HOME / ".local/share/aichats"),
        ({"XDG_DATA_HOME": "/data"}, "linux", Path("/data/aichats")),
        ({"XDG_DATA_HOME": "relative"}, "linux", HOME / ".local/share/aichats"),
        ({}, "freebsd14", HOME / ".local/share/aichats"),
        ({}, "darwin", HOME / "Library/Application Support/aichats"),
        (
            {"LOCALAPPDATA": "C:/Users/u/AppData/Local"},
            "win32",
            Path("C:/Users/u/AppData/Local/aichats"),
        ),
        ({}, "win32", HOME / "AppData/Local/aichats"),
    ],
)
def test_the_data_directory_of_each_platform(
    environ: dict[str, str], platform: str, expected: Path
) -> None:
    assert data_directory(environ, platform) == expected


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), ("1", True), ("on", True), ("", True)]
    + [(off, False) for off in ("0", "off", "OFF", "false", "no", " No ")],
)
def test_aichats_history_turns_recording_off(value: str | None, enabled: bool) -> None:
    environ = {} if value is None else {HISTORY_ENV: value}
    assert HISTORY_ENV == "AICHATS_HISTORY"
    assert history_enabled(environ) is enabled
