"""Storage: SQLAlchemy Core tables, Alembic migrations and one repository module per resource."""
