"""The migration scripts' links, read without importing them (or Alembic)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from runplane.server.db.revisions import _links

MERGE = textwrap.dedent(
    '''
    """Merges two branches.

    Revision ID: 0015
    """

    from alembic import op

    revision: str = "0015"
    down_revision = (
        "0013",
        "0014",
    )
    branch_labels = None


    def upgrade() -> None:
        revision = "not this one"
        op.execute(revision)
    '''
)


def test_links_spread_over_lines_are_read(tmp_path: Path) -> None:
    script = tmp_path / "0015_merge.py"
    script.write_text(MERGE)
    assert _links(script) == {"revision": "0015", "down_revision": ("0013", "0014")}


def test_a_script_without_links_has_none(tmp_path: Path) -> None:
    script = tmp_path / "__init__.py"
    script.write_text('"""The migration scripts."""\n')
    assert _links(script) == {}
