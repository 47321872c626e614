"""How the CLI writes times and long values in its tables."""

from __future__ import annotations

import re
from datetime import datetime

from rich.console import Console


def time_text(moment: datetime | None) -> str:
    """The moment in local time to the second; "-" when there is none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def shortened(text: str, length: int) -> str:
    """The text cut to ``length`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= length else text[: length - 1] + "…"


# C0 controls but tab and newline, DEL, and C1 controls: ESC starts the sequences that retitle,
# clear or reprogram a terminal, and C1 CSI (0x9b) does the same on some terminals.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """The text with every control character but tab and newline written as a visible
    ``\\xNN`` escape, so that text from the server cannot drive the terminal."""
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def stdout_console() -> Console:
    """The console a command prints to, made when it prints: a rich ``Console`` fixes the
    width it finds (the terminal's, or ``COLUMNS``) when it is made, and the command modules
    are imported long before a command runs (and, in one process, before others run)."""
    return Console()
