"""Domain records returned by the repositories: plain dataclasses, no SQLAlchemy, no protobuf."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self


class _FromRow:
    @classmethod
    def from_row(cls, row: Any) -> Self:
        """Builds the record from a result row, taking the columns it declares."""
        mapping = row._mapping
        return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FlowRecord(_FromRow):
    id: uuid.UUID
    name: str
    tags: list[str]
    create_time: datetime
