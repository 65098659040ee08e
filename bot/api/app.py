"""ASGI entry point for uvicorn (`bot.api.app:app`); connectors add their routers here later."""

from bot.api import create_app
from bot.config import get_settings

app = create_app(get_settings())
