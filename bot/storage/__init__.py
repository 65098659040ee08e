"""Persistence: SQLAlchemy tables (`models`), the database handle and migrations (`db`), and
tenant-scoped queries (`repository`). SQLite by default, PostgreSQL via
`postgresql+psycopg://...`; dialect-specific SQL stays inside this package."""

# Tables defined outside models.py join Base.metadata here, so migrations and checks see them.
from bot.storage import crisis as _crisis  # noqa: E402,F401  (crisis mode, migration 0004_crisis)
from bot.storage import knowledge as _knowledge  # noqa: F401  (article versions, migration 0006_knowledge)
from bot.storage import voice as voice  # registers the phone tables on Base.metadata (migration 0005_voice)
from bot.storage.db import Database, alembic_config, default_url, migrate

__all__ = ["Database", "alembic_config", "default_url", "migrate"]
