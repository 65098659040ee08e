"""Crisis mode at the channels' edges: what each channel says first while its municipality has
a crisis on (bot/crisis.py, bot/crisis_board.py). Each channel calls one function here at the
one spot where it starts talking to a citizen, so the crisis logic stays out of the channels."""

from __future__ import annotations

from typing import Any

from bot.crisis_board import board_for
from bot.storage.db import Database
from bot.understanding import detect_language

__all__ = ["mail_paragraph", "spoken_first", "tenant_for_number"]


def tenant_for_number(tenants: Any, called: str) -> str:
    """The tenant a call is for: the one that lists the called number, else the default tenant
    (the voice routes refuse numbers no tenant lists before this is asked)."""
    for tenant in tenants.tenants:
        if called and called in tenant.phone_numbers:
            return str(tenant.id)
    return str(tenants.default_tenant)


def spoken_first(app: Any, called: str, lang: str = "da", *, translated_only: bool = False) -> list[str]:
    """The lines the phone line says before anything else: the crisis message, or nothing. With
    `translated_only` (a caller who chose English after hearing the Danish message), only an
    English version the supervisor gave."""
    tenants, db = app.state.tenants, app.state.db
    crisis = board_for(db).current(tenant_for_number(tenants, called))
    if crisis is None or (translated_only and not (lang == "en" and crisis.message_en)):
        return []
    return [crisis.spoken("en" if lang == "en" else "da")]


def mail_paragraph(db: Database, tenant_id: str, mail_text: str) -> str | None:
    """The first paragraph of an auto-reply during a crisis (English when the mail is English and
    the supervisor gave an English message), or None."""
    crisis = board_for(db).current(tenant_id)
    if crisis is None:
        return None
    return crisis.mail_paragraph("en" if detect_language(mail_text) == "en" else "da")
