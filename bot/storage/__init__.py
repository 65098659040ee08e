"""Persistence: SQLAlchemy tables (`models`), the database handle and migrations (`db`), and
tenant-scoped queries (`repository`). SQLite by default, PostgreSQL via
`postgresql+psycopg://...`; dialect-specific SQL stays inside this package."""

from bot.storage import voice as voice  # registers the phone tables on Base.metadata (migration 0004_voice)
from bot.storage.db import Database, alembic_config, default_url, migrate

__all__ = ["Database", "alembic_config", "default_url", "migrate"]
