"""The agent console: `GET /agent` serves a Danish HTML page; its vanilla JS and CSS come from
`/agent/static/`. No build step. The page holds no data: the JS logs in with a pasted token
(kept in sessionStorage) and talks to `/agent/api` (bot.api.agents, bot.api.supervisor); offers
arrive live over `/agent/api/live` (bot.api.live) with a Web Audio beep, no sound file.

A strict Content-Security-Policy (scripts and styles from this origin only, no inline code,
no framing) backs up the rule that the JS inserts every server or citizen text with
`textContent`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

STATIC = Path(__file__).resolve().parent / "static" / "console"
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "offers.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(tags=["agent console"])


@router.get("/agent", include_in_schema=False)
def console_page() -> FileResponse:
    """The console page (anyone may load it; every action needs an agent token)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


@router.get("/agent/static/{name}", include_in_schema=False, response_model=None)
def console_asset(name: str) -> FileResponse | JSONResponse:
    if name not in ASSETS:
        return JSONResponse({"error": "not_found", "message": f"no console asset {name!r}"}, status_code=404)
    return FileResponse(STATIC / name, media_type=ASSETS[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip
