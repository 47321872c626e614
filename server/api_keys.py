"""The API keys a server accepts: those of ``RUNPLANE_SERVER_API_KEYS`` and of the key file.

A key file that is set but cannot be read, or holds no key, stops the server: starting
without authentication would be the wrong way to fail. Keys stay ``SecretStr`` and appear
in no message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from runplane.server.settings import ServerSettings, SettingsError

KEYS_FILE_VARIABLE = "RUNPLANE_SERVER_API_KEYS_FILE"


def accepted_api_keys(settings: ServerSettings) -> list[SecretStr]:
    """Every key the server accepts; empty means it requires none."""
    keys = list(settings.api_keys)
    if settings.api_keys_file is not None:
        keys.extend(read_keys_file(settings.api_keys_file))
    return [key for key in keys if key.get_secret_value()]


def read_keys_file(path: Path) -> list[SecretStr]:
    """One key a line; blank lines and lines starting with ``#`` are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        # No chained exception: the message says it all, and a traceback would bury it.
        raise SettingsError(f"{KEYS_FILE_VARIABLE}: cannot read {path}: {reason}") from None
    except UnicodeDecodeError:
        # The decode error holds the file's bytes, so it must not travel any further.
        raise SettingsError(f"{KEYS_FILE_VARIABLE}: {path} is not UTF-8 text") from None
    lines = (line.strip() for line in text.splitlines())
    keys = [SecretStr(line) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise SettingsError(
            f"{KEYS_FILE_VARIABLE}: {path} holds no key (one a line; '#' starts a comment)"
        )
    return keys
