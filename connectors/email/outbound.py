"""Outbound e-mail: pure builders for replies, plus the mail policy and SLA warning helpers.

Builders return `email.message.EmailMessage` and do no I/O; `transport.SmtpSender` sends them.
Every reply is threaded to the citizen's mail (In-Reply-To, References with the thread root
first, "Re: <subject>" once) and gets a fresh Message-ID from our own domain. Auto-replies are
marked `Auto-Submitted: auto-replied` (RFC 3834) and `X-Auto-Response-Suppress: All`, and are
refused for automatic mail (`AutoReplySuppressed`). Danish text comes from `templates_da.yml`.

A reply goes to the addr-spec of the citizen's Reply-To, else From (`InboundMail.reply_addr`),
written as UTF-8 when it is not ASCII (RFC 6532; `wire_bytes`), never as encoded-words. Headers
travel in clear, so the subject is redacted (`bot.privacy.redact`: no CPR number, phone or
e-mail address goes back out in it).
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.config import EMAIL_PROMISE_HOURS
from bot.errors import AutoReplySuppressed, MailPolicyError, NaiveDatetime, NoReplyAddress, TopicContractError
from bot.privacy import redact
from bot.routing.calendar import COPENHAGEN, MONTHS_DA, OpeningHours, add_business_hours, format_deadline_da
from bot.topics import Handling, TopicContract
from bot.yaml_safe import safe_load
from connectors.email.inbound import InboundMail, automatic_reason, clean_header
from connectors.email.threading import make_message_id, reply_references

__all__ = [
    "FaqContent",
    "MailPurpose",
    "MailRouting",
    "MailTemplates",
    "SlaState",
    "agent_reply",
    "auto_reply",
    "deadline_warning_due",
    "default_templates",
    "load_templates",
    "reply_deadline",
    "reply_subject",
    "routing_hint",
    "sla_state",
    "wire_bytes",
]

TEMPLATES_PATH = Path(__file__).with_name("templates_da.yml")
MAX_SUBJECT_CHARS = 200
DEFAULT_REPLY_HOURS = EMAIL_PROMISE_HOURS  # the one default lives in bot/config.py

# --- templates --------------------------------------------------------------------------------


def _check_fields(text: str, allowed: frozenset[str]) -> str:
    used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    unknown = used - allowed
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed) or 'none'}")
    return text


class AutoReplyTexts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    greeting: str
    thanks: str
    deadline: str
    answer_intro: str
    selfservice_intro: str
    source: str
    general_guidance: str
    no_more_needed: str
    forwarded: str
    security: str
    closing: str
    automatic_note: str

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str, info: object) -> str:
        allowed = {
            "thanks": {"received"},
            "deadline": {"deadline"},
            "source": {"source", "reviewed"},
            "closing": {"tenant_name"},
        }.get(getattr(info, "field_name", ""), set())
        return _check_fields(value, frozenset(allowed))


class AgentReplyTexts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    closing: str

    @field_validator("closing")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return _check_fields(value, frozenset({"agent_name", "tenant_name"}))


class EmergencyTexts(BaseModel):
    """The lines that lead an auto-reply to a mail describing acute danger (112 first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_112: str
    other_numbers: str
    told: str

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return _check_fields(value, frozenset())


class MailTemplates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    no_subject: str
    auto_reply: AutoReplyTexts
    emergency: dict[Literal["da", "en"], EmergencyTexts]
    agent_reply: AgentReplyTexts

    @field_validator("emergency")
    @classmethod
    def _danish_emergency(cls, value: dict[str, EmergencyTexts]) -> dict[str, EmergencyTexts]:
        if "da" not in value:
            raise ValueError("emergency needs Danish texts (da)")
        return value


def load_templates(path: Path) -> MailTemplates:
    """Read and validate a template file; raises ValueError naming the file and the problem."""
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
        return MailTemplates.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"cannot load mail templates {path}: {exc}") from exc


@cache
def default_templates() -> MailTemplates:
    """The Danish templates shipped next to this module (loaded on first use)."""
    return load_templates(TEMPLATES_PATH)


# --- small helpers ------------------------------------------------------------------------------


def reply_subject(subject: str, no_subject: str = "Din henvendelse") -> str:
    """ "Re: <subject>" exactly once: existing reply prefixes (Re:, Sv:, Vs:, AW:, in any case
    and repeated) are replaced by a single "Re: "; forward prefixes are kept."""
    text = clean_header(subject, MAX_SUBJECT_CHARS)
    while True:
        lowered = text.lower()
        for prefix in ("re:", "sv:", "aw:", "antw:", "vs:"):
            if lowered.startswith(prefix):
                text = text[len(prefix) :].lstrip()
                break
        else:
            break
    return "Re: " + (text or no_subject)


def _date_da(value: date | str) -> str:
    """'4. januar 2026' from a date or an ISO date string."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day}. {MONTHS_DA[day.month - 1]} {day.year}"


def _reply_to_address(mail: InboundMail) -> str:
    addr = mail.reply_addr
    if not addr or "@" not in addr:
        raise NoReplyAddress(
            f"mail {mail.message_id} has no usable Reply-To or From address; it cannot be answered by mail"
        )
    return addr


def _domain_of(addr: str) -> str:
    return addr.rsplit("@", 1)[-1]


def _address(addr: str, display_name: str = "") -> Address:
    username, _, domain = clean_header(addr, 320).rpartition("@")
    if len(username) >= 2 and username.startswith('"') and username.endswith('"'):
        username = re.sub(r"\\(.)", r"\1", username[1:-1])  # Address quotes it again where needed
    return Address(display_name=clean_header(display_name, 200), username=username, domain=domain)


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as sent: CRLF, and UTF-8 headers when an address is not ASCII (RFC 6532), since
    an encoded-word in an address would make it undeliverable (RFC 2047 §5)."""
    addresses = " ".join(str(msg.get(h, "")) for h in ("From", "To", "Cc"))
    return msg.as_bytes(policy=email_policy.SMTP if addresses.isascii() else email_policy.SMTPUTF8)


def _threaded_message(
    mail: InboundMail,
    *,
    from_addr: str,
    from_name: str,
    sent_at: datetime,
    subject: str,
    thread_root: str | None,
    message_id: str | None,
) -> EmailMessage:
    to_addr = _reply_to_address(mail)
    msg = EmailMessage()
    msg["From"] = _address(from_addr, from_name)
    msg["To"] = _address(to_addr)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at.astimezone(COPENHAGEN))
    msg["Message-ID"] = message_id or make_message_id(_domain_of(from_addr))
    msg["In-Reply-To"] = mail.message_id
    msg["References"] = " ".join(reply_references(mail, thread_root))
    return msg


# --- auto-reply -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaqContent:
    """An answer or self-service steps taken from a reviewed knowledge article."""

    text: str
    source: str  # the article's source: title and address
    reviewed: date | str  # the date it was last reviewed (ISO string as in ArticleRef)

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("FaqContent.text is empty; pass None instead of an empty answer")
        if not self.source.strip():
            raise ValueError("FaqContent.source is empty; every answer names its source")
        _date_da(self.reviewed)  # fails early on a bad date


def reply_deadline(
    received_at: datetime, schedule: OpeningHours, hours: float = DEFAULT_REPLY_HOURS
) -> datetime:
    """When the citizen gets an answer: `hours` of opening time after receipt (the queue's promise)."""
    return add_business_hours(received_at, hours, schedule)


def auto_reply(
    mail: InboundMail,
    *,
    received_at: datetime,
    deadline: datetime,
    tenant_name: str,
    from_addr: str,
    answer: FaqContent | None = None,
    selfservice: FaqContent | None = None,
    routing: MailRouting | None = None,
    thread_root: str | None = None,
    sent_at: datetime | None = None,
    message_id: str | None = None,
    own_addresses: Sequence[str] = (),
    templates: MailTemplates | None = None,
    emergency: Literal["da", "en"] | None = None,
    crisis: str | None = None,
) -> EmailMessage:
    """The acknowledgement for an inbound mail, in plain Danish.

    With `crisis` (the municipality's crisis paragraph, connectors/crisis.py) the reply starts
    with it; only the 112 lines of an emergency come before it.

    With `emergency` (the language of the mail) the reply leads with 112 and the other urgent
    numbers, before the thanks and the deadline: the mail describes acute danger.

    It thanks the citizen, says when they get an answer ("Du får svar senest mandag den
    4. januar kl. 10.00"; compute `deadline` with `reply_deadline`), and for FAQ-level mail adds
    the answer or self-service steps with source and review date. It never promises a decision.
    Raises `AutoReplySuppressed` for automatic mail (RFC 3834), `NoReplyAddress` without a
    sender, and `MailPolicyError` if `routing` forbids an FAQ answer but one was given.
    """
    reason = automatic_reason(mail, own_addresses)
    if reason is not None:
        raise AutoReplySuppressed(f"no auto-reply to {mail.message_id}: automatic mail ({reason})")
    if routing is not None and not routing.faq_allowed and (answer or selfservice):
        raise MailPolicyError(
            f"topic {routing.topic} ({routing.purpose}) goes to queue {routing.queue} without an FAQ"
            " answer (mail policy, seed 003 §5); pass answer=None and selfservice=None"
        )
    t = (templates or default_templates()).auto_reply
    paragraphs = []
    if emergency is not None:
        texts = (templates or default_templates()).emergency
        e = texts.get(emergency) or texts["da"]
        paragraphs += [e.call_112, e.other_numbers, e.told]
    if crisis:
        paragraphs.append(crisis)
    paragraphs += [
        t.greeting + ",",
        t.thanks.format(received=format_deadline_da(received_at)),
        t.deadline.format(deadline=format_deadline_da(deadline)),
    ]
    if routing is not None and routing.purpose is not MailPurpose.GENERAL:
        paragraphs.append(t.forwarded)
    for intro, content in ((t.answer_intro, answer), (t.selfservice_intro, selfservice)):
        if content is not None:
            paragraphs.append(intro)
            paragraphs.append(content.text.strip())
            reviewed = _date_da(content.reviewed)
            paragraphs.append(t.source.format(source=content.source.strip(), reviewed=reviewed))
    if answer is not None or selfservice is not None:
        paragraphs.append(f"{t.general_guidance} {t.no_more_needed}")
    paragraphs.append(t.security)
    paragraphs.append(t.closing.format(tenant_name=tenant_name))
    paragraphs.append(t.automatic_note)

    msg = _threaded_message(
        mail,
        from_addr=from_addr,
        from_name=tenant_name,
        sent_at=sent_at or received_at,
        subject=reply_subject(redact(mail.subject), (templates or default_templates()).no_subject),
        thread_root=thread_root,
        message_id=message_id,
    )
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content("\n\n".join(paragraphs) + "\n")
    return msg


def agent_reply(
    mail: InboundMail,
    *,
    body: str,
    agent_name: str,
    tenant_name: str,
    from_addr: str,
    sent_at: datetime,
    thread_root: str | None = None,
    message_id: str | None = None,
    templates: MailTemplates | None = None,
) -> EmailMessage:
    """An agent's answer to `mail`, threaded like the auto-reply but without Auto-Submitted.

    The subject follows the mail being answered (the newest one), so a citizen who changed the
    subject gets the answer under the new subject (chatwoot#15869).
    """
    if not body.strip():
        raise ValueError("agent_reply: body is empty")
    tmpl = templates or default_templates()
    msg = _threaded_message(
        mail,
        from_addr=from_addr,
        from_name=tenant_name,
        sent_at=sent_at,
        subject=reply_subject(redact(mail.subject), tmpl.no_subject),
        thread_root=thread_root,
        message_id=message_id,
    )
    closing = tmpl.agent_reply.closing.format(agent_name=agent_name.strip(), tenant_name=tenant_name)
    msg.set_content(body.strip() + "\n\n" + closing + "\n")
    return msg


# --- mail policy (seed 003 §5) ----------------------------------------------------------------


class MailPurpose(enum.StrEnum):
    """The written-only purposes mail is kept for, and everything else."""

    AKTINDSIGT = "aktindsigt"
    KLAGE = "klage"
    CASE_DOCUMENT = "case_document"  # documents or information for a case in progress
    GENERAL = "general"


POLICY_TOPICS: dict[str, MailPurpose] = {
    "generelt_aktindsigt": MailPurpose.AKTINDSIGT,
    "generelt_klage": MailPurpose.KLAGE,
    "generelt_eftersendelse": MailPurpose.CASE_DOCUMENT,
}
CASE_TOPIC_SUFFIX = "_sag"  # byggeri_konkret_sag, erhverv_refusion_sag, generelt_udbetaling_danmark_sag


@dataclass(frozen=True, slots=True)
class MailRouting:
    topic: str
    queue: str
    purpose: MailPurpose
    faq_allowed: bool  # may the auto-reply carry an FAQ answer or self-service steps?
    explanation: str  # short, English, for logs and agents


def routing_hint(topic_id: str, contract: TopicContract, *, case_topic_id: str | None = None) -> MailRouting:
    """Where a mail on `topic_id` goes, and whether it may get an FAQ answer.

    Aktindsigt, klager and documents for a case go to the owning unit's queue and never get an
    FAQ answer (seed 003 §5). The owning unit is `case_topic_id`'s queue when the domain of the
    case is known (e.g. a complaint about a building case: byggeri_konkret_sag → byg_cby), else
    the topic's own queue. Other topics may get an FAQ answer if they are level 1, not
    sensitive, and their first action is to answer or point to self-service.
    Raises `TopicContractError` for unknown topic ids.
    """
    topic = contract.topic(topic_id)
    purpose = POLICY_TOPICS.get(topic.id)
    if purpose is None and topic.id.endswith(CASE_TOPIC_SUFFIX):
        purpose = MailPurpose.CASE_DOCUMENT
    if purpose is None:
        answerable = topic.handling in (Handling.ANSWER, Handling.SELFSERVICE)
        allowed = topic.level == 1 and not topic.sensitive and answerable
        return MailRouting(
            topic.id,
            topic.queue,
            MailPurpose.GENERAL,
            allowed,
            f"level {topic.level}, handling {topic.handling}"
            + ("" if allowed else ": no FAQ answer by mail"),
        )
    queue = topic.queue
    if case_topic_id is not None:
        case_topic = contract.topic(case_topic_id)
        if case_topic.queue not in contract.queue_by_id:
            raise TopicContractError(f"topic {case_topic.id}: unknown queue {case_topic.queue!r}")
        queue = case_topic.queue
    return MailRouting(
        topic.id, queue, purpose, False, f"{purpose} mail goes to the owning unit ({queue}); no FAQ answer"
    )


# --- SLA warning ---------------------------------------------------------------------------------


class SlaState(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"  # the deadline is near: raise the warning event once
    BREACHED = "breached"


def sla_state(
    sla_due_at: datetime,
    now: datetime,
    warn_before: timedelta = timedelta(minutes=30),
    schedule: OpeningHours | None = None,
) -> SlaState:
    """OK, WARNING (less than `warn_before` left) or BREACHED (`now` at or after the deadline).

    Without `schedule` the time left is wall-clock time. With it, only opening hours count, so a
    Monday 08:10 deadline warns at 08:00 Monday rather than at 07:40 when nobody is in.
    """
    for name, value in (("sla_due_at", sla_due_at), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"{name}={value.isoformat()} has no time zone; pass an aware datetime")
    if now >= sla_due_at:
        return SlaState.BREACHED
    if schedule is None:
        near = now >= sla_due_at - warn_before
    else:
        near = add_business_hours(now, warn_before.total_seconds() / 3600, schedule) >= sla_due_at
    return SlaState.WARNING if near else SlaState.OK


def deadline_warning_due(
    sla_due_at: datetime,
    now: datetime,
    warn_before: timedelta = timedelta(minutes=30),
    schedule: OpeningHours | None = None,
) -> bool:
    """True in the window before the deadline in which the warning event is raised (not after
    a breach: that is a breach event). Whether the warning was already sent is the caller's state."""
    return sla_state(sla_due_at, now, warn_before, schedule) is SlaState.WARNING
