"""POST /email/inbound: mail services push raw MIME here.

The body is the raw message (`Content-Type: message/rfc822`, or any non-form type), or a
multipart form with the raw message in the field `message` (file or text). The shared secret
goes in the header `X-Kontakt-Email-Secret` (setting KONTAKT_EMAIL_INBOUND_SECRET): missing → 401,
wrong → 403, not configured → 503. Larger than KONTAKT_EMAIL_MAX_INBOUND_BYTES (25 MB) → 413.
202 means the raw mail is committed; a repeated delivery is answered 202 with duplicate=true.
The municipality is found from the address the mail was sent to, or from the secret when it is
an address's own (`mailboxes` in knowledge/tenants.yaml; connectors/email/mailboxes.py); a mail
to no municipality's address is refused with 404. `?tenant=` still works where one municipality
is configured.

    curl -s localhost:5005/email/inbound -H 'X-Kontakt-Email-Secret: ...' \\
         -H 'Content-Type: message/rfc822' --data-binary @mail.eml
"""

from __future__ import annotations

import contextlib
from typing import Annotated, AsyncContextManager

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection

from connectors.email.mailboxes import MailboxSecrets, PushAuth, tenant_of_push
from connectors.email.service import MailService
from connectors.email.settings import EmailSettings

__all__ = ["SECRET_HEADER", "EmailSettingsDep", "MailServiceDep", "get_email_settings", "get_mail_service", "router"]

SECRET_HEADER = "X-Kontakt-Email-Secret"

router = APIRouter(tags=["email"])


def get_email_settings(conn: HTTPConnection) -> EmailSettings:
    """`settings.email`, put on the app where it is built (bot/api `create_app`)."""
    configured: EmailSettings = conn.app.state.email_settings
    return configured


def get_mail_service(conn: HTTPConnection) -> MailService:
    """The app's one MailService, built at start-up (`email_services`, connectors/email/background.py)."""
    service: MailService = conn.app.state.mail_service
    return service


EmailSettingsDep = Annotated[EmailSettings, Depends(get_email_settings)]
MailServiceDep = Annotated[MailService, Depends(get_mail_service)]


def _handling_limiter(request: Request) -> AsyncContextManager[object]:
    """The app's bound on mails handled at once (`email_services`); none in an app built without it."""
    limiter: AsyncContextManager[object] | None = getattr(request.app.state, "mail_handling", None)
    return limiter if limiter is not None else contextlib.nullcontext()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


@router.post("/email/inbound", status_code=202)
async def inbound(
    request: Request, settings: EmailSettingsDep, service: MailServiceDep, tenant: str | None = None
) -> JSONResponse:
    secrets: MailboxSecrets = getattr(request.app.state, "mailbox_secrets", None) or MailboxSecrets({}, {})
    if not (settings.inbound_secret and settings.inbound_secret.get_secret_value()) and not secrets.push:
        return _error(503, "not_configured", "Set KONTAKT_EMAIL_INBOUND_SECRET (or an address's push_secret_env "
                      "in knowledge/tenants.yaml) to accept pushed mail.")  # fmt: skip
    given = request.headers.get(SECRET_HEADER)
    if given is None:
        return _error(401, "unauthorized", f"Send the shared secret in the {SECRET_HEADER} header.")
    auth = PushAuth.check(given, settings.inbound_secret, secrets)
    if not auth.ok:
        return _error(403, "forbidden", f"The {SECRET_HEADER} header does not match.")

    limit = settings.max_inbound_bytes
    too_large = _error(413, "payload_too_large", f"A mail may be at most {limit} bytes.")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit + 64 * 1024):
        return too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + 64 * 1024:  # room for the multipart envelope
            return too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # let form() read what was streamed

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_part_size=limit + 1)
        try:
            field = form.get("message")
            if isinstance(field, UploadFile):
                raw = await field.read()
            elif isinstance(field, str):
                raw = field.encode("utf-8", "surrogateescape")
            else:
                return _error(400, "missing_message", "Put the raw message in the form field 'message'.")
        finally:
            await form.close()
    else:
        raw = body
    if not raw.strip():
        return _error(400, "empty_message", "The request carries no mail.")
    if len(raw) > limit:
        return too_large

    found = tenant_of_push(raw, auth, service.tenants, tenant)  # UnknownTenant: 404 (the one error table)
    if found is None:
        return _error(404, "unknown_recipient",
                      "No municipality served here receives mail at the addresses this mail was sent to.")
    tenant_id = found.id
    # Handling a mail (parse, several transactions, understanding a long text) takes a request
    # thread for a while: a burst of pushed mail may hold only a few of them, so chat turns,
    # which a citizen waits for, keep the rest. The raw mail waits here, not in a thread.
    async with _handling_limiter(request):
        result = await run_in_threadpool(service.ingest, tenant_id, raw, "http")
    return JSONResponse(
        {"inbound_id": result.inbound_id, "message_id": result.message_id, "duplicate": result.duplicate,
         "status": result.status.value, "contact_id": result.contact_id},
        status_code=202,
    )  # fmt: skip
