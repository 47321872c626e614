"""Switching a SQLite file to WAL while another connection holds it locked."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from runplane.server.db.engine import _use_wal


def test_the_switch_to_wal_waits_out_another_connections_lock(tmp_path: Path) -> None:
    path = tmp_path / "runplane.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    # No busy timeout of its own: each refusal comes back at once, as in the race it covers.
    opener = sqlite3.connect(path, timeout=0, isolation_level=None)
    released = threading.Timer(0.2, holder.execute, args=("COMMIT",))
    released.start()
    try:
        _use_wal(opener.cursor())
        mode = opener.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        released.join()
        opener.close()
        holder.close()
    assert mode == "wal"
