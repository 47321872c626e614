"""How the CLI writes times and long values in its tables."""

from __future__ import annotations

from datetime import datetime


def time_text(moment: datetime | None) -> str:
    """The moment in local time to the second; "-" when there is none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def shortened(text: str, length: int) -> str:
    """The text cut to ``length`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= length else text[: length - 1] + "…"
