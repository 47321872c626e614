"""Limits on stored log lines: an oversized message is cut short with a note, never dropped.

The limit and the cut are the SDK's (:mod:`runplane._log_lines`), so that a line reads the
same whether the client or the server cut it.
"""

from __future__ import annotations

from runplane._log_lines import MAX_MESSAGE_BYTES, truncate_message

__all__ = ["MAX_MESSAGE_BYTES", "truncate_message"]
