"""Writers of one SQLite file take turns across processes (shared.sqlite_turns): another process
holding the turn makes a writer wait, then fail as a locked database does; the turn passes once
released; nested turns of one thread hold it until the outermost ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from shared.sqlite_turns import WriterTurns

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from shared.sqlite_turns import WriterTurns

    turns = WriterTurns(Path(sys.argv[1]), wait_seconds=10)
    turns.acquire()
    print("holding", flush=True)
    sys.stdin.readline()  # hold the turn until told
    turns.release()
    print("released", flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    lock = tmp_path / "ledger.db.writers"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    yield lock, process
    process.kill()
    process.wait()


def tell(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_a_turn_held_by_another_process_makes_a_writer_fail_as_a_locked_database(holder):
    lock, process = holder
    turns = WriterTurns(lock, wait_seconds=0.3)
    with pytest.raises(OperationalError, match="database is locked"):
        turns.acquire()
    assert tell(process) == "released"
    turns.acquire()  # the turn passed
    turns.release()


def test_nested_turns_hold_the_file_until_the_outermost_ends(tmp_path: Path):
    lock = tmp_path / "ledger.db.writers"
    mine = WriterTurns(lock, wait_seconds=0.3)
    mine.acquire()
    mine.acquire()
    mine.release()  # the inner turn ends; the outer one still holds the file
    probe = [sys.executable, "-c", PROBE, str(lock)]
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run(probe, capture_output=True, text=True, cwd=root).stdout.strip() == "busy"
    mine.release()
    assert subprocess.run(probe, capture_output=True, text=True, cwd=root).stdout.strip() == "taken"


PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sqlalchemy.exc import OperationalError
    from shared.sqlite_turns import WriterTurns

    try:
        WriterTurns(Path(sys.argv[1]), wait_seconds=0.2).acquire()
        print("taken")
    except OperationalError:
        print("busy")
    """
)


def test_the_databases_writers_take_turns_on_a_file_beside_it(tmp_path: Path):
    from shared.db import Database

    database = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with database.write_turn():
            assert (tmp_path / "ledger.db.writers").exists()
            probe = [sys.executable, "-c", PROBE, str(tmp_path / "ledger.db.writers")]
            root = Path(__file__).resolve().parents[2]
            assert subprocess.run(probe, capture_output=True, text=True, cwd=root).stdout.strip() == "busy"
    finally:
        database.dispose()
