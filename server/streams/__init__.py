"""Cluster-wide streams: watches and log follows see the changes every server process
commits to the same database, not only their own (see :mod:`.notices` for PostgreSQL and
:mod:`.sqlite_changes` for SQLite)."""
