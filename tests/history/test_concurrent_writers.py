"""Six processes recording into one new database at once lose no turn and share no seq."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from aichats_core.history import HistoryStore

WRITERS = 6
TURNS = 30
SHARED = "0" * 24

WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from aichats_core.history import HistoryStore, TurnRecord

    path, go, worker, turns, shared = sys.argv[1:]
    own = HistoryStore.new_conversation_id()
    while not Path(go).exists():  # start together, for the most contention
        time.sleep(0.001)
    with HistoryStore(path) as store:
        for number in range(int(turns)):
            store.record(TurnRecord(
                conversation_id=shared if number % 2 else own,
                prompt=f"{worker}-{number}", answer="a", provider="p", model="m",
                status="complete", started_at=datetime.now(UTC), duration_ms=1.0,
            ))
    print(own)
    """
)


def test_six_processes_recording_at_once_lose_no_turn(tmp_path: Path) -> None:
    db_path, go = tmp_path / "history.db", tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), str(go), str(worker), str(TURNS), SHARED],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WRITERS)
    ]
    go.touch()
    own_ids = []
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        own_ids.append(out.strip())

    with HistoryStore(db_path) as store:
        shared = store.conversation(SHARED).turns
        assert [turn.seq for turn in shared] == list(range(1, WRITERS * TURNS // 2 + 1))
        expected = {f"{w}-{n}" for w in range(WRITERS) for n in range(1, TURNS, 2)}
        assert sorted(turn.prompt for turn in shared) == sorted(expected)
        for worker, own in enumerate(own_ids):
            turns = store.conversation(own).turns
            assert [turn.prompt for turn in turns] == [f"{worker}-{n}" for n in range(0, TURNS, 2)]
            assert [turn.seq for turn in turns] == list(range(1, TURNS // 2 + 1))
        assert len(store.conversations(None)) == WRITERS + 1
