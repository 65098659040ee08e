"""The e-mail channel on the conversation engine.

`MailService.ingest(tenant_id, raw, source)`:

1. commits the raw bytes first (table `inbound_mail`, unique per tenant and Message-ID); a second
   delivery of a handled Message-ID is recognised and ignored, an unhandled one is handled now;
2. parses the mail and applies the RFC 3834 loop guard (`automatic_reason`): automatic mail never
   gets an auto-reply; outside a known thread it is only stored (status SKIPPED);
3. threads it (In-Reply-To, References, then subject) over the stored inbound Message-IDs and our
   own outgoing ones (kept on the outbox items); a reply joins its contact, whose
   `external_ref` is the thread root's Message-ID (a closed contact starts a new thread);
4. records the citizen's message; a new thread is triaged (`understanding.parse`), routed by the
   mail policy (`routing_hint`: aktindsigt, klager and case documents go to the owning unit without
   an FAQ answer), handed to a person (e-mail is always answered by a person) with the deadline
   of 2 business hours in the queue's opening hours (`Tenant.opening_hours(queue)`), and gets the
   Danish auto-reply, enqueued in the outbox (never sent from here).

Poison mail cannot loop: every attempt to handle a stored mail is counted and committed before
it starts (so an attempt that kills the process counts too); a mail out of attempts
(`max_handle_attempts`, setting KONTAKT_EMAIL_POISON_ATTEMPTS, default 3) is QUARANTINED with a
`mail_quarantined` event and listed for supervisors, and is never picked up again on its own.
Handling errors are caught: the mail stays stored with status FAILED and `reprocess_pending`
tries again; one bad mail never stops the pass for the others. Mail from a person without a
usable sender address still reaches a queue, only without an auto-reply.

Privacy: the subject is redacted (`bot.privacy.redact`) before it is stored for display, used
for threading or sent back in a reply header. The raw mail (`inbound_mail.raw`) keeps the
original: it is the only copy of the attachments and of text beyond the transcript's limit, so
it stays until retention or a GDPR deletion anonymises the contact (`bot.retention`). `send_agent_reply` threads an agent's answer to the citizen's last mail and enqueues
it; `check_deadlines` writes `sla_warning` (30 min before, counted in opening hours) and
`sla_breached` events, once per contact each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any, Literal

from bot.crisis_board import route_decision
from bot.engine import ConversationEngine
from bot.errors import AutoReplySuppressed, NaiveDatetime, NoReplyAddress
from bot.outbox_worker import Sender
from bot.privacy import redact
from bot.routing.handoff import PacketReason
from bot.storage import outbox as ob
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import Channel, ContactState, EventKind, InboundMailStatus, OutboxKind
from bot.storage.models import InboundMail as InboundMailRow
from bot.tenants import Tenant, Tenants
from bot.types import Action
from bot.understanding import detect_language
from connectors.crisis import mail_paragraph
from connectors.email.inbound import GENERATED_ID_DOMAIN, InboundMail, machine_reason, parse_mail
from connectors.email.outbound import (
    DEFAULT_REPLY_HOURS,
    FaqContent,
    MailRouting,
    MailTemplates,
    SlaState,
    agent_reply,
    auto_reply,
    reply_deadline,
    routing_hint,
    sla_state,
    wire_bytes,
)
from connectors.email.threading import MatchKind, make_message_id, normalize_subject, thread_key
from connectors.email.transport import SmtpSender

__all__ = ["IngestResult", "MailService", "run_deadline_checker", "smtp_sender"]

log = logging.getLogger("kontakt.email")

MAX_TRANSCRIPT_CHARS = 20_000  # the citizen's text on the contact; the raw mail keeps everything
CLOSED_STATES = (ContactState.CLOSED, ContactState.ABANDONED)


@dataclass(frozen=True, slots=True)
class IngestResult:
    inbound_id: int
    message_id: str
    duplicate: bool  # the Message-ID was stored before (a second delivery)
    status: InboundMailStatus
    contact_id: str | None = None
    thread: MatchKind | None = None
    new_thread: bool = False
    automatic: str | None = None  # why no auto-reply may be sent (loop guard), None for a person
    topic: str | None = None
    queue_id: str | None = None
    sla_due_at: datetime | None = None
    auto_reply_id: int | None = None  # outbox item id
    error: str | None = None


def _stored_mail(row: InboundMailRow) -> InboundMail:
    """What the reply builders need of a stored mail, without parsing the raw bytes again. Rows
    stored before `reply_addr` existed are answered at their From address."""
    return InboundMail(
        message_id=row.message_id, message_id_generated=row.message_id.endswith(f"@{GENERATED_ID_DOMAIN}>"),
        in_reply_to=row.in_reply_to, references=tuple((row.reference_ids or "").split()),
        subject=row.subject or "", from_addr=row.from_addr or "", from_name="", to=(), cc=(), reply_to=None,
        date=None, content_type="text/plain", text="", body_for_understanding="", attachments=(), headers=(),
        defects=(), size=row.size, reply_addr=row.reply_addr or row.from_addr or "",
    )  # fmt: skip


def _parse(raw: bytes) -> tuple[InboundMail | None, str | None]:
    """`parse_mail`, which promises not to raise; a failure is kept as text all the same."""
    try:
        mail = parse_mail(raw)
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc}"
    return dataclasses.replace(mail, subject=redact(mail.subject)), None


class MailService:
    """Cheap to construct; one per process. `understanding` is `bot.understanding.Understanding`
    (anything with `.parse(text, tenant=)`, `.contract` and `.articles_for(tenant)`)."""

    def __init__(
        self,
        engine: ConversationEngine,
        understanding: Any,
        tenants: Tenants,
        db: Database,
        outbox: ob.Outbox | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        reply_hours: float = DEFAULT_REPLY_HOURS,
        warn_before: timedelta = timedelta(minutes=30),
        max_handle_attempts: int = ob.DEFAULT_POISON_ATTEMPTS,
        attempt_lease: timedelta = timedelta(minutes=2),
        templates: MailTemplates | None = None,
    ) -> None:
        self.engine = engine
        self.understanding = understanding
        self.tenants = tenants
        self.db = db
        self.outbox = outbox or ob.Outbox(db)
        self.clock = clock or engine.clock
        self.reply_hours = reply_hours
        self.warn_before = warn_before
        if max_handle_attempts < 1:
            raise ValueError(f"MailService: max_handle_attempts must be at least 1, got {max_handle_attempts}")
        self.max_handle_attempts = max_handle_attempts
        self.attempt_lease = attempt_lease  # an attempt younger than this is in flight: leave it alone
        self.templates = templates

    # --- helpers -------------------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        value = self.clock() if now is None else now
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"clock/now gave {value.isoformat()} without a time zone; use UTC")
        return value.astimezone(UTC)

    def _own_addresses(self) -> tuple[str, ...]:
        return tuple(sorted(self.tenants.by_address))

    @staticmethod
    def _domain(tenant: Tenant) -> str | None:
        address = tenant.reply_address
        return address.rsplit("@", 1)[-1] if address and "@" in address else None

    # --- inbound -------------------------------------------------------------------------------

    def ingest(self, tenant_id: str, raw: bytes, source: str = "unknown", *, now: datetime | None = None) -> IngestResult:
        """Store `raw` (committed), then handle it. Raises only for an unknown tenant or when the
        raw mail cannot be stored (`DatabaseUnavailable`): then nothing was acknowledged."""
        tenant = self.tenants.get(tenant_id)
        at = self._now(now)
        raw = bytes(raw)
        digest = hashlib.sha256(raw).hexdigest()
        mail, parse_error = _parse(raw)
        message_id = mail.message_id if mail else f"<{digest[:40]}@{GENERATED_ID_DOMAIN}>"
        row = InboundMailRow(
            tenant_id=tenant.id, message_id=message_id[:255], source=source[:32], raw=raw, size=len(raw),
            sha256=digest, received_at=at, status=InboundMailStatus.RECEIVED, attempts=0,
            from_addr=(mail.from_addr[:320] or None) if mail else None, subject=mail.subject if mail else None,
            subject_key=normalize_subject(mail.subject)[:255] if mail else None,
            in_reply_to=mail.in_reply_to if mail else None,
            reference_ids=" ".join(mail.references) if mail else None,
            automatic=(machine_reason(mail, self._own_addresses()) or None) if mail else None,
            reply_addr=(mail.reply_addr[:320] or None) if mail else None,
        )  # fmt: skip
        with self.db.write() as s:
            stored, created = ob.store_inbound(s, row=row)
            if created:
                repo.add_event(s, tenant_id=tenant.id, kind=EventKind.MAIL_RECEIVED, at=at, contact_id=None,
                               data={"inbound_id": stored.id, "source": source, "size": len(raw)})  # fmt: skip
                stored.attempts, stored.last_attempt_at = 1, at  # counted in the same commit as the store
                gate = ob.Attempt.GO
            else:
                gate = ob.begin_inbound_attempt(s, inbound_id=stored.id, now=at, max_attempts=self.max_handle_attempts,
                                                lease=self.attempt_lease)  # fmt: skip
            s.flush()
            inbound_id, status, received_at = stored.id, stored.status, stored.received_at
        if gate is not ob.Attempt.GO:
            log.info("mail %s for %s delivered again (%s): %s, %s", inbound_id, tenant.id, source, status.value,
                     gate.value)  # fmt: skip
            return IngestResult(inbound_id, message_id, not created, status)
        if mail is None:
            return self._failed(inbound_id, message_id, not created, parse_error or "unparseable", at)
        return self._handle(tenant, inbound_id, mail, received_at, duplicate=not created)

    def reprocess_pending(self, *, now: datetime | None = None, grace: timedelta | None = None) -> list[IngestResult]:
        """Handle stored mail that was never handled (a crash after storing) or failed before, if
        its last attempt began at least `grace` ago (default `attempt_lease`, so an ingest in
        flight is left alone). Mail out of attempts is quarantined instead. One mail's failure
        never stops the pass: each is handled on its own."""
        at = self._now(now)
        lease = self.attempt_lease if grace is None else grace
        with self.db.read() as s:
            rows = [(r.id, r.tenant_id) for r in ob.pending_inbound(s)]
        out = []
        for inbound_id, tenant_id in rows:
            if tenant_id not in self.tenants.by_id:
                continue
            try:
                result = self._retry(self.tenants.get(tenant_id), inbound_id, at, lease)
            except Exception:  # noqa: BLE001 - e.g. the database went away for this one; the next pass retries
                log.exception("retrying stored mail %s for %s failed; the pass goes on", inbound_id, tenant_id)
                continue
            if result is not None:
                out.append(result)
        return out

    def _retry(self, tenant: Tenant, inbound_id: int, at: datetime, lease: timedelta) -> IngestResult | None:
        with self.db.write() as s:
            gate = ob.begin_inbound_attempt(s, inbound_id=inbound_id, now=at, max_attempts=self.max_handle_attempts,
                                            lease=lease)  # fmt: skip
            row = s.get(InboundMailRow, inbound_id)
            assert row is not None
            message_id, received_at, status = row.message_id, row.received_at, row.status
            raw = bytes(row.raw) if gate is ob.Attempt.GO else b""
        if gate is ob.Attempt.QUARANTINED:
            log.error("stored mail %s for %s quarantined: out of attempts", inbound_id, tenant.id)
            return IngestResult(inbound_id, message_id, True, status, error="quarantined")
        if gate is not ob.Attempt.GO:
            return None
        mail, parse_error = _parse(raw)
        if mail is None:
            return self._failed(inbound_id, message_id, True, parse_error or "unparseable", at)
        return self._handle(tenant, inbound_id, mail, received_at, duplicate=True)

    def _failed(self, inbound_id: int, message_id: str, duplicate: bool, error: str, at: datetime) -> IngestResult:
        with self.db.write() as s:
            status = ob.fail_inbound(s, inbound_id=inbound_id, error=redact(error), now=at,
                                     max_attempts=self.max_handle_attempts)  # fmt: skip
        if status is InboundMailStatus.QUARANTINED:
            log.error("mail %s quarantined after %s failed attempts", inbound_id, self.max_handle_attempts)
        return IngestResult(inbound_id, message_id, duplicate, status, error=error)

    def _handle(
        self, tenant: Tenant, inbound_id: int, mail: InboundMail, received_at: datetime, *, duplicate: bool
    ) -> IngestResult:
        try:
            result = self._process(tenant, inbound_id, mail, received_at)
        except Exception as exc:  # noqa: BLE001 - the raw mail is stored; record and retry later
            log.exception("handling mail %s for %s failed; it stays stored for a retry", inbound_id, tenant.id)
            return self._failed(inbound_id, mail.message_id, duplicate, f"{type(exc).__name__}: {exc}", received_at)
        return dataclasses.replace(result, duplicate=duplicate)

    def _finish(
        self, inbound_id: int, status: InboundMailStatus, at: datetime, contact_id: str | None, thread_id: str | None
    ) -> None:
        with self.db.write() as s:
            row = s.get(InboundMailRow, inbound_id)
            assert row is not None
            row.status, row.handled_at = status, at  # the attempt was counted before it began
            row.contact_id, row.thread_id, row.last_error = contact_id, thread_id, None

    def _process(self, tenant: Tenant, inbound_id: int, mail: InboundMail, received_at: datetime) -> IngestResult:
        at = received_at
        auto = machine_reason(mail, self._own_addresses())
        with self.db.read() as s:
            match = thread_key(
                mail,
                lambda mid: ob.thread_of_message_id(s, tenant_id=tenant.id, message_id=mid),
                by_subject=lambda q: ob.thread_by_subject(
                    s, tenant_id=tenant.id, from_addr=q.sender, subject_key=q.subject_key[:255], since=q.since
                ),
                now=at,
            )  # fmt: skip
        base = IngestResult(inbound_id, mail.message_id, False, InboundMailStatus.HANDLED, thread=match.kind,
                            automatic=auto)  # fmt: skip
        contact = None
        if match.thread_id is not None:
            contact = self.engine.open_contact(tenant.id, Channel.EMAIL, match.thread_id, now=at)
            if contact.state in CLOSED_STATES:
                contact = None  # a reply to a finished errand starts a new thread
        if contact is None and auto is not None:
            self._finish(inbound_id, InboundMailStatus.SKIPPED, at, None, None)
            log.info("automatic mail %s outside any thread stored, not handled (%s)", inbound_id, auto)
            return dataclasses.replace(base, status=InboundMailStatus.SKIPPED, thread=MatchKind.NEW)
        if contact is None:
            contact = self.engine.open_contact(
                tenant.id, Channel.EMAIL, mail.message_id, name=mail.from_name or None,
                email=mail.reply_addr or mail.from_addr or None, now=at,
            )  # fmt: skip
        new_thread = contact.external_ref == mail.message_id
        thread_id = contact.external_ref
        self.engine.record_inbound(tenant.id, contact.id, self._transcript_text(mail),
                                   client_message_id=mail.message_id[:200], now=at)  # fmt: skip
        result = dataclasses.replace(base, contact_id=contact.id, new_thread=new_thread)
        if auto is None and self.engine.contact(tenant.id, contact.id).state is ContactState.BOT:
            result = self._triage_and_reply(tenant, contact.id, thread_id, mail, at, result)
        self._finish(inbound_id, InboundMailStatus.HANDLED, at, contact.id, thread_id)
        return result

    @staticmethod
    def _transcript_text(mail: InboundMail) -> str:
        body = (mail.body_for_understanding or mail.text).strip()
        text = f"Emne: {mail.subject}\n\n{body}" if mail.subject else body
        if len(text) > MAX_TRANSCRIPT_CHARS:
            text = text[:MAX_TRANSCRIPT_CHARS] + "\n[…] (afkortet; hele mailen er gemt)"
        return text or "(tom mail)"

    def _triage_and_reply(
        self, tenant: Tenant, contact_id: str, thread_id: str, mail: InboundMail, at: datetime, result: IngestResult
    ) -> IngestResult:
        contract = self.understanding.contract
        nlu_text = " ".join(p for p in (mail.subject.strip(), mail.body_for_understanding.strip()) if p)
        parsed = self.understanding.parse(nlu_text or "(tom mail)", tenant=tenant.id)
        decision = parsed.decision
        hint: MailRouting | None = None
        if decision.topic and decision.topic in contract.by_id:
            hint = routing_hint(decision.topic, contract)
        crisis = route_decision(self.db, self.understanding, tenant.id, nlu_text, decision)
        if crisis is not None:  # crisis mode: a question about the crisis goes to the crisis queue
            decision, hint = crisis[1], None
        queue_id = hint.queue if hint else (decision.queue or self.engine.default_queue)
        queue_id = tenant.queue_for(queue_id, contract.queue_by_id)  # a queue this municipality runs
        if hint is not None and hint.queue != queue_id:
            hint = dataclasses.replace(hint, queue=queue_id)
        promise = tenant.promise_hours(queue_id, self.reply_hours)  # its own promise per queue
        due = reply_deadline(at, tenant.opening_hours(queue_id), promise).astimezone(UTC)
        with self.db.write() as s:
            ob.set_sla_due(s, tenant_id=tenant.id, contact_id=contact_id, due=due)

        outbox_id = None
        msg = self._auto_reply(tenant, thread_id, mail, at, due, decision, hint)
        if msg is not None:
            item, _ = self.outbox.enqueue(
                tenant_id=tenant.id, channel=Channel.EMAIL, kind=OutboxKind.AUTO_REPLY,
                payload=wire_bytes(msg), dedupe_key=f"auto_reply:{tenant.id}:{mail.message_id}",
                now=at, contact_id=contact_id, message_id=str(msg["Message-ID"]),
            )  # fmt: skip
            outbox_id = item.id
            body = msg.get_content()
            self.engine.record_bot_reply(tenant.id, contact_id, body, decision, now=at)
        reason = PacketReason(decision.reason.value) if decision.reason else PacketReason.TOPIC_POLICY
        routed = dataclasses.replace(decision, queue=queue_id)
        summary = f"E-mail: {mail.subject}"[:300] if mail.subject else None
        self.engine.request_handoff(tenant.id, contact_id, routed, reason, summary, nlu=parsed.nlu, now=at)
        return dataclasses.replace(result, topic=decision.topic, queue_id=queue_id, sla_due_at=due,
                                   auto_reply_id=outbox_id)  # fmt: skip

    def _faq(
        self, tenant: Tenant, decision: Any, hint: MailRouting | None
    ) -> tuple[FaqContent | None, FaqContent | None]:
        ref = decision.article
        if hint is None or not hint.faq_allowed or ref is None:
            return None, None
        if decision.action not in (Action.ANSWER, Action.SELFSERVICE):
            return None, None
        article = self.understanding.articles_for(tenant.id).get(ref.id)  # with the local overlay
        if article is None:
            return None, None
        source = f"{ref.source} ({ref.source_url})" if ref.source_url else ref.source
        if decision.action is Action.SELFSERVICE and article.selfservice is not None:
            ss = article.selfservice
            lines = [ss.name, *(f"{i}. {step}" for i, step in enumerate(ss.steps, 1))]
            if ss.url:
                lines.append(ss.url)
            return None, FaqContent("\n".join(lines), source, ref.reviewed)
        return FaqContent(article.body, source, ref.reviewed), None

    def _auto_reply(
        self,
        tenant: Tenant,
        thread_id: str,
        mail: InboundMail,
        at: datetime,
        due: datetime,
        decision: Any,
        hint: MailRouting | None,
    ) -> EmailMessage | None:
        domain = self._domain(tenant)
        if domain is None or tenant.reply_address is None:
            log.error("tenant %s has no e-mail address in tenants.yaml; no auto-reply sent", tenant.id)
            return None
        answer, selfservice = self._faq(tenant, decision, hint)
        emergency: Literal["da", "en"] | None = None
        if decision.action is Action.EMERGENCY:
            emergency = "en" if detect_language(f"{mail.subject} {mail.body_for_understanding}") == "en" else "da"
        try:
            return auto_reply(
                mail, received_at=at, deadline=due, tenant_name=tenant.name, from_addr=tenant.reply_address,
                answer=answer, selfservice=selfservice, routing=hint, thread_root=thread_id, sent_at=at,
                message_id=make_message_id(domain), own_addresses=self._own_addresses(), templates=self.templates,
                emergency=emergency,
                crisis=mail_paragraph(self.db, tenant.id, f"{mail.subject} {mail.body_for_understanding}"),
            )  # fmt: skip
        except (AutoReplySuppressed, NoReplyAddress) as exc:
            log.info("no auto-reply to %s: %s", mail.message_id, exc)
            return None

    # --- outbound ------------------------------------------------------------------------------

    def send_agent_reply(
        self,
        tenant_id: str,
        contact_id: str,
        agent_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
        now: datetime | None = None,
    ) -> ob.OutboxView:
        """Record the agent's answer (engine.agent_reply) and enqueue it as a mail threaded to
        the citizen's last mail. Pass `client_message_id` to make a retry safe: the stored
        message is found again and the same outbox item returned."""
        tenant = self.tenants.get(tenant_id)
        at = self._now(now)
        if tenant.reply_address is None or self._domain(tenant) is None:
            raise NoReplyAddress(f"tenant {tenant_id!r} has no e-mail address in tenants.yaml; set `email`")
        with self.db.read() as s:
            contact = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            rows = ob.inbound_for_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            people = [r for r in rows if r.automatic is None and (r.reply_addr or r.from_addr)]
            if not people:
                raise NoReplyAddress(f"contact {contact_id!r} has no mail from a person to answer")
            target, root = _stored_mail(people[-1]), contact.external_ref
            agent_name = repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id).name
        message = self.engine.agent_reply(tenant_id, agent_id, contact_id, text, client_message_id=client_message_id,
                                          now=at)  # fmt: skip
        msg = agent_reply(
            target, body=text, agent_name=(agent_name.split() or [tenant.name])[0], tenant_name=tenant.name,
            from_addr=tenant.reply_address or "", sent_at=at, thread_root=root, message_id=make_message_id(self._domain(tenant) or ""),
            templates=self.templates,
        )  # fmt: skip
        item, _ = self.outbox.enqueue(
            tenant_id=tenant_id, channel=Channel.EMAIL, kind=OutboxKind.AGENT_REPLY,
            payload=wire_bytes(msg), dedupe_key=f"agent_reply:{tenant_id}:{message.id}",
            now=at, contact_id=contact_id, message_id=str(msg["Message-ID"]),
        )  # fmt: skip
        return item

    # --- deadlines -------------------------------------------------------------------------------

    def check_deadlines(self, now: datetime | None = None) -> list[tuple[str, EventKind]]:
        """Write `sla_warning` (less than `warn_before` of opening time left) and `sla_breached`
        events for e-mail contacts still waiting for a person, once per contact each."""
        at = self._now(now)
        with self.db.read() as s:
            waiting = [(c.tenant_id, c.id, c.sla_due_at, c.queue_id) for c in ob.contacts_awaiting_reply(s)]
        fired: list[tuple[str, EventKind]] = []
        for tenant_id, contact_id, due, queue_id in waiting:
            try:  # one contact's trouble (e.g. a queue without hours) never stops the others' clocks
                kind = self._deadline_event(tenant_id, contact_id, due, queue_id, at)
            except Exception:  # noqa: BLE001
                log.exception("deadline check for contact %s failed; the others go on", contact_id)
                continue
            if kind is not None:
                fired.append((contact_id, kind))
        return fired

    def _deadline_event(
        self, tenant_id: str, contact_id: str, due: datetime | None, queue_id: str | None, at: datetime
    ) -> EventKind | None:
        tenant = self.tenants.by_id.get(tenant_id)
        if tenant is None or due is None:
            return None
        state = sla_state(due, at, self.warn_before, tenant.opening_hours(queue_id))
        if state is SlaState.OK:
            return None
        kind = EventKind.SLA_WARNING if state is SlaState.WARNING else EventKind.SLA_BREACHED
        with self.db.write() as s:
            repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)  # one checker at a time
            if ob.has_event(s, tenant_id=tenant_id, contact_id=contact_id, kind=kind):
                return None
            repo.add_event(s, tenant_id=tenant_id, kind=kind, at=at, contact_id=contact_id,
                           data={"due_at": due.isoformat(), "queue_id": queue_id})  # fmt: skip
        return kind


# --- background helpers ------------------------------------------------------------------------


def smtp_sender(sender: SmtpSender) -> Sender:
    """The outbox sender for Channel.EMAIL: parse the stored MIME bytes and hand them to SMTP."""

    def send(item: ob.OutboxView) -> None:
        msg = message_from_bytes(item.payload, policy=email_policy.default)
        assert isinstance(msg, EmailMessage)
        sender.send(msg)

    return send


async def run_deadline_checker(
    service: MailService, *, interval: float = 60.0, stop: asyncio.Event | None = None
) -> None:
    """`check_deadlines` and `reprocess_pending` every `interval` seconds until `stop` is set."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        for job in (service.check_deadlines, service.reprocess_pending):
            try:  # separately: a failing deadline check must not stop the retries, nor the reverse
                await asyncio.to_thread(job)
            except Exception:  # noqa: BLE001 - keep the checker alive
                log.exception("e-mail background job %s failed", job.__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
