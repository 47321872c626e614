"""The API keys a server accepts, each with its role: those of ``RUNPLANE_SERVER_API_KEYS``
and of the key file.

A key is written ``ROLE:KEY`` (``read:…``, ``worker:…``, ``admin:…``); a key without a role
is an admin key, as every key was before roles existed. A key that holds ``:`` itself must
therefore be written with its role first (``admin:abc:def``).

A key file that is set but cannot be read, or holds no key, stops the server: starting
without authentication would be the wrong way to fail. So does a key whose role is not one
of the three, and a key listed twice with different roles. Keys stay ``SecretStr`` and
appear in no message.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from runplane.server.settings import ServerSettings, SettingsError

KEYS_VARIABLE = "RUNPLANE_SERVER_API_KEYS"
KEYS_FILE_VARIABLE = "RUNPLANE_SERVER_API_KEYS_FILE"


class Role(enum.IntEnum):
    """What a key may do; each role may do everything the roles below it may."""

    READ = 1
    """List, get, watch and follow."""
    WORKER = 2
    """What runners and the SDK's engine need: run flows, report states, logs, slots."""
    ADMIN = 3
    """Everything: deleting, and changing deployments, pools, queues and limits."""

    @property
    def label(self) -> str:
        """The role as keys and messages write it: ``read``, ``worker``, ``admin``."""
        return self.name.lower()


_ROLES_BY_LABEL = {role.label: role for role in Role}
ROLE_LABELS = ", ".join(role.label for role in Role)


@dataclass(frozen=True)
class ApiKey:
    """One accepted key and the role it grants."""

    role: Role
    secret: SecretStr


def accepted_api_keys(settings: ServerSettings) -> list[ApiKey]:
    """Every key the server accepts; empty means it requires none."""
    keys = parse_keys(KEYS_VARIABLE, settings.api_keys)
    if settings.api_keys_file is not None:
        keys.extend(read_keys_file(settings.api_keys_file))
    _refuse_conflicting_roles(keys)
    return keys


def parse_keys(source: str, written: Iterable[SecretStr]) -> list[ApiKey]:
    """The keys as written in ``source`` (``ROLE:KEY`` or ``KEY``); empty entries are skipped.

    Messages say which entry is wrong by its position, never by its text: the text is the key.
    """
    keys = []
    for position, entry in enumerate(written, start=1):
        text = entry.get_secret_value().strip()
        if not text:
            continue
        label, colon, secret = text.partition(":")
        if not colon:
            keys.append(ApiKey(Role.ADMIN, SecretStr(text)))
            continue
        role = _ROLES_BY_LABEL.get(label.strip().lower())
        if role is None:
            raise SettingsError(
                f"{source}: key {position} starts with an unknown role (one of {ROLE_LABELS}, "
                "then ':' and the key; a key that holds ':' needs its role first, as in "
                "admin:KEY)"
            )
        if not secret.strip():
            raise SettingsError(f"{source}: key {position} has a role but no key after ':'")
        keys.append(ApiKey(role, SecretStr(secret.strip())))
    return keys


def read_keys_file(path: Path) -> list[ApiKey]:
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
    entries = [SecretStr(line) for line in lines if line and not line.startswith("#")]
    if not entries:
        raise SettingsError(
            f"{KEYS_FILE_VARIABLE}: {path} holds no key (one a line; '#' starts a comment)"
        )
    return parse_keys(f"{KEYS_FILE_VARIABLE} ({path})", entries)


def _refuse_conflicting_roles(keys: list[ApiKey]) -> None:
    """One key with two roles is a mistake whichever role was meant: refuse to guess."""
    roles: dict[str, Role] = {}
    for key in keys:
        secret = key.secret.get_secret_value()
        if roles.setdefault(secret, key.role) is not key.role:
            raise SettingsError(
                f"{KEYS_VARIABLE} and {KEYS_FILE_VARIABLE}: a key is listed with two roles, "
                f"{roles[secret].label} and {key.role.label}; list it once"
            )
