"""Planted result files, as a client holding some API key could leave them for a reader."""

from __future__ import annotations

import os
import pickle
from pathlib import Path


class RunsOnLoad:
    """Unpickling this makes a folder at ``marker``: proof that the pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def plant_pickle(folder: Path, key: str, marker: Path) -> str:
    """Writes a pickle that runs code under ``folder/key``; returns its storage name."""
    return plant(folder, key, pickle.dumps(RunsOnLoad(marker)))


def plant(folder: Path, key: str, data: bytes) -> str:
    """Writes ``data`` without any result store of this process seeing it; returns the
    storage name a reference to it would carry."""
    path = folder / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"local-file:{folder.resolve()}"
