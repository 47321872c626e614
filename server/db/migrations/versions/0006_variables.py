"""variables: named JSON values that flows read at run time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 19:10:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import runplane.server.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "variable",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "update_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variable")),
        sa.UniqueConstraint("name", name=op.f("uq_variable_name")),
    )


def downgrade() -> None:
    op.drop_table("variable")
