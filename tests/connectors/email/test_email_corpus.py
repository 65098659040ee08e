"""Every mail of the real-world corpus (tests/connectors/email/corpus: mail-parser test suites,
see each folder's README) through POST /email/inbound of the real app (`connectors.app.build_app`,
SQLite in a temporary folder), with the auto-replies delivered to aiosmtpd on loopback.

What must hold for each mail: no 5xx; an auto-reply goes only to the sender's addr-spec
(computed here with the standard library's strict RFC 5322 parser, `email.headerregistry`,
independently of the product's own reading); no auto-reply to receipts, reports or list mail;
and every mail that carries no sign of a machine reaches a queue (a contact with a handoff).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email import errors, policy
from email.headerregistry import Address
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.config import Settings
from bot.outbox_worker import deliver_due
from bot.storage.models import Channel, Contact, Handoff, InboundMail, OutboxItem, OutboxKind, OutboxStatus
from connectors.app import build_app
from connectors.email.routes import SECRET_HEADER
from connectors.email.service import smtp_sender
from connectors.email.settings import EmailSettings
from connectors.email.transport import SmtpSender

if TYPE_CHECKING:
    from conftest import SmtpSink

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).with_name("corpus")
MAILS = sorted(p for p in CORPUS.glob("*/mail/*") if p.is_file())
SECRET = "corpus-secret"


def test_corpus_is_large_and_licensed() -> None:
    assert len(MAILS) >= 300
    for source in {p.parent.parent for p in MAILS}:
        assert (source / "README.md").is_file() and any(source.glob("*LICENSE*")), source


# --- the expectation, from the standard library alone ---------------------------------------------


def _raw_header(raw: bytes, name: str) -> str | None:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    for key, value in msg.raw_items():
        if key.lower() == name:
            text = re.sub(r"\r?\n(?=[ \t])", "", str(value))
            try:  # RFC 6532: raw header bytes are UTF-8
                return text.encode("utf-8", "surrogateescape").decode("utf-8")
            except UnicodeError:
                return None  # not UTF-8: nothing in it can be trusted as an address
    return None


def _usable(addr: Address) -> str | None:
    if addr.username and "." in addr.domain and not addr.domain.startswith("[") and not any(
        c.isspace() for c in addr.addr_spec.replace('\\ ', "").split("@")[-1]
    ):
        return addr.addr_spec
    return None


def _strict(value: str) -> tuple[list[str], bool]:
    """(usable addr-specs, the header is valid RFC 5322/6532) by `email.headerregistry`."""
    try:
        header = policy.default.header_factory("reply-to", value)
    except ValueError:  # e.g. a bare CR inside an address: no valid header
        return [], False
    clean = all(isinstance(d, errors.ObsoleteHeaderDefect | errors.NonASCIILocalPartDefect) for d in header.defects)
    found = [a for a in (_usable(x) for x in header.addresses) if a]  # type: ignore[attr-defined]
    return found, clean


def _angle(value: str) -> set[str]:
    out = set()
    for inner in re.findall(r"<([^<>]*)>", value):
        found, clean = _strict(f"<{inner}>")
        if clean and found:
            out.add(found[0])
    return out


@dataclass
class Expect:
    exact: str | None = None  # the reply must go here (a valid header)
    allowed: set[str] = field(default_factory=set)  # broken headers: only these addr-specs


def expected_recipient(raw: bytes) -> Expect:
    """Reply-To, else From (RFC 5322 §3.6.2). A valid header gives exactly its first usable
    addr-spec; a broken one may only give what its <angle-addr>s hold, or nothing."""
    allowed: set[str] = set()
    for name in ("reply-to", "from"):
        value = _raw_header(raw, name)
        if value is None or not value.strip():
            continue
        found, clean = _strict(value)
        if clean and found:
            return Expect(exact=found[0]) if not allowed else Expect(allowed=allowed | {found[0]})
        if not clean:
            allowed |= _angle(value)
    return Expect(allowed=allowed)


AUTO_SUBJECT = re.compile(
    r"^\s*(automatisk svar|autosvar|auto.?reply|automatic reply|auto.?response|out of (the )?office|fraværende|"
    r"undeliver|undelivered|returned mail|mail delivery|delivery status|failure notice|delivery failure|"
    r"kan ikke leveres|ikke leveret|ikke på kontoret|abwesenheit|return receipt|read.receipt|læsekvittering)",
    re.I,
)


def signals(raw: bytes) -> tuple[set[str], set[str]]:
    """(receipt/report/list/auto signals that forbid an auto-reply, weaker machine signs)."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    names = {k.lower() for k in msg.keys()}
    get = lambda k: str(msg.get(k, "") or "").strip().lower()  # noqa: E731
    try:
        parts = {p.get_content_type() for p in msg.walk()}
    except Exception:  # noqa: BLE001
        parts = set()
    strong = set()
    if get("auto-submitted") and get("auto-submitted").split(";")[0].strip() != "no":
        strong.add("auto-submitted")
    if any(n.startswith("list-") for n in names) or names & {"mailing-list", "x-mailing-list"}:
        strong.add("list")
    if get("precedence") in ("bulk", "list", "junk"):
        strong.add("precedence")
    if any(str(v).strip().lower().startswith("mailing list") for v in msg.get_all("delivered-to") or []):
        strong.add("delivered-to")
    if msg.get_content_type() == "multipart/report" or parts & {
        "message/delivery-status", "message/disposition-notification", "message/feedback-report",
    }:  # fmt: skip
        strong.add("report")
    if {t.strip() for t in get("x-auto-response-suppress").split(",")} & {"all", "oof", "autoreply"}:
        strong.add("x-auto-response-suppress")
    weak = set()
    if names & {"x-autoreply", "x-autorespond", "x-autogenerated", "x-auto-reply", "x-autoresponder",
                "x-mailman-version", "x-ml-name", "x-list", "x-beenthere", "x-sympa-to", "x-ezmlm-version",
                "x-loop-list", "x-listname", "x-failed-recipients", "feedback-type", "x-ms-tnef-correlator",
                "content-class", "x-precedence"}:  # fmt: skip
        weak.add("header")
    if get("return-path").replace(" ", "") in ("<>",) or get("precedence") == "auto_reply":
        weak.add("bounce")
    sender = " ".join(get(h) for h in ("from", "reply-to", "sender"))
    if re.search(r"(mailer.?daemon|postmaster|no.?reply|donotreply|do.?not.?reply|bounce)", sender):
        weak.add("sender")
    if AUTO_SUBJECT.match(str(msg.get("subject", "") or "")):
        weak.add("subject")
    if parts & {"application/ms-tnef", "application/vnd.ms-tnef"}:
        weak.add("tnef")
    return strong, weak


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    path: Path
    status: int
    body: dict


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, understanding, smtp_sink_module: SmtpSink):
    tmp = tmp_path_factory.mktemp("corpus")
    settings = Settings(database_url=f"sqlite:///{tmp / 'corpus.sqlite3'}", max_body_bytes=30 * 1024 * 1024)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
        mp.setenv("KONTAKT_KOBENHAVN_EMAIL_PUSH_SECRET", SECRET)  # knowledge/tenants.yaml: push_secret_env
        app = build_app(settings, understanding=understanding)
        app.state.email_settings = EmailSettings(deadline_check_seconds=3600)
        with TestClient(app) as client:
            outcomes = []
            for path in MAILS:
                # Pushed with København's own address secret: that picks the municipality (the
                # corpus mails' own To: are foreign addresses).
                raw = path.read_bytes()
                r = client.post("/email/inbound", content=raw,
                                headers={SECRET_HEADER: SECRET, "Content-Type": "message/rfc822"})  # fmt: skip
                outcomes.append(Outcome(path, r.status_code, r.json() if r.status_code < 500 else {}))
            db = app.state.db
            sender = smtp_sender(SmtpSender(smtp_sink_module.host, smtp_sink_module.port, timeout=10))
            now = app.state.engine.clock()
            while deliver_due(db, {Channel.EMAIL: sender}, now, limit=100).claimed:
                pass
            yield outcomes, db, smtp_sink_module


def _name(o: Outcome) -> str:
    return f"{o.path.parent.parent.name}/{o.path.name}"


def test_corpus_no_mail_gets_a_5xx(corpus_run) -> None:
    outcomes, _, _ = corpus_run
    bad = [(_name(o), o.status) for o in outcomes if o.status >= 500 or o.status not in (202, 400)]
    assert bad == []
    assert sum(o.status == 202 for o in outcomes) >= 300


def _replies(db, sink: SmtpSink) -> dict[str, tuple[list[str], list[str]]]:
    """Inbound Message-ID -> (envelope recipients, To addr-specs) of its auto-reply as received.
    Matched through the outbox (our Message-ID), since a citizen's id may not survive a header
    round trip unchanged; every auto-reply in the outbox must have been delivered."""
    received = {}
    for got in sink.received:
        msg = email.message_from_bytes(got.data, policy=policy.default)
        to = [str(a.addr_spec).encode("utf-8", "surrogateescape").decode("utf-8")
              for a in msg["To"].addresses]  # fmt: skip
        assert "=?" not in str(msg["To"]), msg["To"]  # UTF-8 addresses are written as UTF-8 (RFC 6532)
        received[str(msg["Message-ID"])] = (list(got.rcpt_tos), to)
    out = {}
    with db.read() as s:
        for item in s.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.AUTO_REPLY)):
            assert item.status is OutboxStatus.SENT, (item.dedupe_key, item.status, item.last_error)
            out[item.dedupe_key.split(":", 2)[2]] = received[item.message_id]
    return out


def _opened_its_thread(db, inbound_id: int) -> bool:
    """Only the first mail of a thread is acknowledged; follow-ups (same sender and subject, or
    a reply by headers) join it silently."""
    with db.read() as s:
        row = s.get(InboundMail, inbound_id)
        contact = s.get(Contact, row.contact_id) if row.contact_id else None
        return contact is not None and contact.external_ref == row.message_id


def test_corpus_replies_go_only_to_the_senders_addr_spec(corpus_run) -> None:
    outcomes, db, sink = corpus_run
    replies = _replies(db, sink)
    wrong, missing = [], []
    for o in outcomes:
        if o.status != 202 or o.body["duplicate"]:
            continue
        expect = expected_recipient(o.path.read_bytes())
        strong, weak = signals(o.path.read_bytes())
        got = replies.get(o.body["message_id"])
        if got is not None:
            rcpt, to = got
            ok = {expect.exact} if expect.exact else expect.allowed
            if rcpt != to or len(to) != 1 or to[0] not in ok:
                wrong.append((_name(o), to, rcpt, expect))
        elif expect.exact and not strong and not weak and _opened_its_thread(db, o.body["inbound_id"]):
            missing.append((_name(o), expect.exact))
    assert wrong == []
    assert missing == []  # a person with a valid address gets the acknowledgement
    assert len(replies) >= 100


def test_corpus_no_auto_reply_to_receipts_reports_or_lists(corpus_run) -> None:
    outcomes, db, sink = corpus_run
    replies = _replies(db, sink)
    answered = [(_name(o), sorted(signals(o.path.read_bytes())[0])) for o in outcomes
                if o.status == 202 and o.body["message_id"] in replies and signals(o.path.read_bytes())[0]]  # fmt: skip
    assert answered == []
    assert sum(1 for o in outcomes if o.status == 202 and signals(o.path.read_bytes())[0]) >= 20


def test_corpus_every_mail_from_a_person_reaches_a_queue(corpus_run) -> None:
    outcomes, db, _ = corpus_run
    lost = []
    with db.read() as s:
        for o in outcomes:
            if o.status != 202 or o.body["duplicate"] or any(signals(o.path.read_bytes())):
                continue
            row = s.get(InboundMail, o.body["inbound_id"])
            contact = s.get(Contact, row.contact_id) if row.contact_id else None
            handoffs = s.scalars(select(Handoff).where(Handoff.contact_id == row.contact_id)).all() if contact else []
            if row.status.value != "handled" or contact is None or not handoffs or not contact.queue_id:
                lost.append((_name(o), row.status.value, row.automatic, row.last_error))
    assert lost == []
