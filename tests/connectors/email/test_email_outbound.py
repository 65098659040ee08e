"""Tests for connectors.email.outbound: deadlines through the real calendar, reply headers,
Danish texts, the mail policy and SLA warnings."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import AutoReplySuppressed, MailPolicyError, NaiveDatetime, NoReplyAddress, TopicContractError
from bot.routing.calendar import COPENHAGEN, default_schedule, schedule_from_mapping
from bot.topics import TopicContract, load_contract
from connectors.email.inbound import InboundMail, parse_mail
from connectors.email.outbound import (
    TEMPLATES_PATH,
    FaqContent,
    MailPurpose,
    SlaState,
    agent_reply,
    auto_reply,
    deadline_warning_due,
    load_templates,
    reply_deadline,
    reply_subject,
    routing_hint,
    sla_state,
)

pytestmark = pytest.mark.unit

DEFAULT = default_schedule()
MUNICIPAL = schedule_from_mapping(
    {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")} | {"closed_dates": ["12-24", "12-31"]}
)
TENANT = "Københavns Kommune"
FROM = "kontakt@kommune.dk"


def cph(*args: int) -> datetime:
    return datetime(*args, tzinfo=COPENHAGEN)  # type: ignore[misc]


def citizen_mail(subject: str = "Hvad koster et pas?", *headers: str) -> InboundMail:
    fields = {
        "from": "From: Jens Hansen <jens@example.dk>",
        "to": "To: kontakt@kommune.dk",
        "subject": f"Subject: {subject}",
        "message-id": "Message-ID: <citizen-2@example.dk>",
        "references": "References: <root@kommune.dk> <citizen-1@example.dk>",
    }
    for header in headers:
        fields[header.split(":", 1)[0].lower()] = header
    return parse_mail("\r\n".join(fields.values()).encode() + b"\r\n\r\nHvad koster et pas?\r\n")


def body_of(msg: EmailMessage) -> str:
    return str(msg.get_content())


def reparsed(msg: EmailMessage) -> EmailMessage:
    """What a receiving server sees: our message serialised and parsed back."""
    parsed = email.message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture(scope="module")
def contract() -> TopicContract:
    return load_contract(Settings().topics_file)


# --- the deadline promise, computed through the real calendar ---------------------------------

DEADLINES = [
    # received (Copenhagen), schedule, expected deadline, expected Danish sentence
    pytest.param(cph(2027, 1, 4, 8, 12), DEFAULT, cph(2027, 1, 4, 10, 12), "mandag den 4. januar kl. 10.12", id="open"),
    pytest.param(cph(2026, 1, 5, 16, 0), DEFAULT, cph(2026, 1, 5, 18, 0), "mandag den 5. januar kl. 18.00", id="ends-at-closing"),
    pytest.param(cph(2026, 1, 2, 17, 30), DEFAULT, cph(2026, 1, 5, 9, 30), "mandag den 5. januar kl. 09.30", id="friday-evening"),
    pytest.param(cph(2026, 1, 3, 10, 0), DEFAULT, cph(2026, 1, 5, 10, 0), "mandag den 5. januar kl. 10.00", id="saturday"),
    pytest.param(cph(2026, 4, 1, 17, 0), DEFAULT, cph(2026, 4, 7, 9, 0), "tirsdag den 7. april kl. 09.00", id="easter"),
    pytest.param(cph(2026, 5, 13, 17, 0), DEFAULT, cph(2026, 5, 15, 9, 0), "fredag den 15. maj kl. 09.00", id="kristi-himmelfart"),
    # Grundlovsdag is not a public holiday in the holidays library: open unless the tenant closes it.
    pytest.param(cph(2026, 6, 4, 17, 0), DEFAULT, cph(2026, 6, 5, 9, 0), "fredag den 5. juni kl. 09.00", id="grundlovsdag-open"),
    # Christmas Eve is not a public holiday in the default schedule ...
    pytest.param(cph(2026, 12, 23, 17, 0), DEFAULT, cph(2026, 12, 24, 9, 0), "torsdag den 24. december kl. 09.00", id="juleaften-default"),
    # ... but a municipality that closes 12-24 promises Monday 28 December.
    pytest.param(cph(2026, 12, 23, 17, 0), MUNICIPAL, cph(2026, 12, 28, 9, 0), "mandag den 28. december kl. 09.00", id="juleaften-closed"),
    pytest.param(cph(2026, 12, 31, 19, 45), DEFAULT, cph(2027, 1, 4, 10, 0), "mandag den 4. januar kl. 10.00", id="nytaar"),
    pytest.param(cph(2026, 3, 27, 17, 30), DEFAULT, cph(2026, 3, 30, 9, 30), "mandag den 30. marts kl. 09.30", id="dst-spring"),
    pytest.param(cph(2026, 10, 23, 17, 30), DEFAULT, cph(2026, 10, 26, 9, 30), "mandag den 26. oktober kl. 09.30", id="dst-autumn"),
]  # fmt: skip


@pytest.mark.parametrize(("received", "schedule", "expected", "sentence"), DEADLINES)
def test_outbound_deadline_and_danish_sentence(
    received: datetime, schedule: object, expected: datetime, sentence: str
) -> None:
    deadline = reply_deadline(received, schedule)  # type: ignore[arg-type]
    assert deadline == expected
    assert deadline.utcoffset() == expected.utcoffset()
    msg = auto_reply(citizen_mail(), received_at=received, deadline=deadline, tenant_name=TENANT, from_addr=FROM)
    assert f"Du får svar senest {sentence}." in body_of(msg)


def test_outbound_deadline_hours_are_per_queue() -> None:
    assert reply_deadline(cph(2026, 1, 2, 17, 30), DEFAULT, hours=8) == cph(2026, 1, 5, 15, 30)


# --- auto-reply headers -------------------------------------------------------------------------


def test_outbound_auto_reply_headers() -> None:
    received = cph(2027, 1, 4, 8, 12)
    msg = reparsed(
        auto_reply(
            citizen_mail(),
            received_at=received,
            deadline=reply_deadline(received, DEFAULT),
            tenant_name=TENANT,
            from_addr=FROM,
        )
    )
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<citizen-2@example.dk>"
    assert msg["References"].split() == ["<root@kommune.dk>", "<citizen-1@example.dk>", "<citizen-2@example.dk>"]
    assert msg["Subject"] == "Re: Hvad koster et pas?"
    assert msg["From"].addresses[0].addr_spec == FROM
    assert msg["From"].addresses[0].display_name == TENANT
    assert msg["To"].addresses[0].addr_spec == "jens@example.dk"
    assert msg["Message-ID"].endswith("@kommune.dk>")
    assert msg["Date"].datetime == received
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"


def test_outbound_every_auto_reply_gets_a_fresh_message_id() -> None:
    kwargs = dict(received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT, from_addr=FROM)
    first, second = auto_reply(citizen_mail(), **kwargs), auto_reply(citizen_mail(), **kwargs)  # type: ignore[arg-type]
    assert first["Message-ID"] != second["Message-ID"]


def test_outbound_thread_root_goes_first_in_references() -> None:
    m = parse_mail(b"From: jens@example.dk\r\nSubject: Pas\r\nMessage-ID: <c3@example.dk>\r\n\r\nHej\r\n")
    msg = auto_reply(
        m, received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT, from_addr=FROM,
        thread_root="<root@kommune.dk>",
    )  # fmt: skip
    assert msg["References"].split() == ["<root@kommune.dk>", "<c3@example.dk>"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("Re: Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("RE: re: Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("SV: Sv: Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("AW: Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("VS: Hvad koster et pas?", "Re: Hvad koster et pas?"),
        ("Fwd: Hvad koster et pas?", "Re: Fwd: Hvad koster et pas?"),
        ("Reparation af vej", "Re: Reparation af vej"),
        ("", "Re: Din henvendelse"),
        ("   ", "Re: Din henvendelse"),
    ],
)
def test_outbound_reply_subject_has_re_once(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    "subject_header",
    [
        "=?utf-8?q?Pas=0D=0ABcc:_victim@example.com=0D=0AX-Evil:_1?=",
        "=?utf-8?b?UGFzDQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ0KDQpCb2R5?=",  # "Pas\r\nBcc: victim...\r\n\r\nBody"
    ],
)
def test_outbound_header_injection_in_subject_does_not_leak(subject_header: str) -> None:
    mail = citizen_mail(subject_header)
    msg = auto_reply(mail, received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT, from_addr=FROM)
    raw = msg.as_bytes(policy=policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = {line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line and not line[:1].isspace()}
    assert b"bcc" not in names and b"x-evil" not in names
    back = reparsed(msg)
    assert back["Bcc"] is None and back["X-Evil"] is None
    # The injected text stays on one line; the address in it is masked like any personal data.
    assert back["Subject"].startswith("Re: Pas Bcc: [E-MAIL]")
    assert [a.addr_spec for a in back["To"].addresses] == ["jens@example.dk"]


def test_outbound_display_name_injection_does_not_leak() -> None:
    mail = parse_mail(
        b"From: =?utf-8?q?Jens=0D=0ABcc:_victim@example.com?= <jens@example.dk>\r\n"
        b"Subject: Pas\r\nMessage-ID: <c4@example.dk>\r\n\r\nHej\r\n"
    )
    back = reparsed(
        auto_reply(mail, received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT, from_addr=FROM)
    )
    assert back["Bcc"] is None
    assert [a.addr_spec for a in back["To"].addresses] == ["jens@example.dk"]


# --- auto-reply text ------------------------------------------------------------------------------

ARTICLE = FaqContent(
    text="Et pas til voksne koster 688 kr. Du bestiller tid i Borgerservice.",
    source="Pas – kk.dk (https://www.kk.dk/pas)",
    reviewed="2026-11-02",
)
STEPS = FaqContent(
    text="1. Gå til borger.dk\n2. Log ind med MitID\n3. Vælg 'Flyt'",
    source="Flytning – borger.dk",
    reviewed="2026-10-15",
)


def test_outbound_auto_reply_without_faq_is_short_and_plain() -> None:
    text = body_of(
        auto_reply(citizen_mail(), received_at=cph(2027, 1, 4, 8, 12), deadline=cph(2027, 1, 4, 10, 12), tenant_name=TENANT, from_addr=FROM)
    )
    assert text.startswith("Hej,\n\nTak for din mail, som vi har modtaget mandag den 4. januar kl. 08.12.")
    assert "Du får svar senest mandag den 4. januar kl. 10.12." in text
    assert "Venlig hilsen\nKøbenhavns Kommune" in text
    assert "Kilde" not in text and "afgørelse" not in text
    assert "Jens" not in text  # the sender's display name is not echoed


def test_outbound_auto_reply_with_answer_cites_source_and_review_date() -> None:
    text = body_of(
        auto_reply(
            citizen_mail(), received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT,
            from_addr=FROM, answer=ARTICLE, selfservice=STEPS,
        )
    )  # fmt: skip
    assert "Et pas til voksne koster 688 kr." in text
    assert "Kilde: Pas – kk.dk (https://www.kk.dk/pas). Oplysningerne er sidst gennemgået den 2. november 2026." in text
    assert "2. Log ind med MitID" in text
    assert "Kilde: Flytning – borger.dk. Oplysningerne er sidst gennemgået den 15. oktober 2026." in text
    assert "Det er generel vejledning og ikke en afgørelse i din sag." in text
    assert text.index("Du får svar senest") < text.index("Et pas til voksne")


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: auto-replied", "Precedence: bulk", "List-Id: <nyt.example.dk>", "From: noreply@example.dk"],
)
def test_outbound_no_auto_reply_to_automatic_mail(header: str) -> None:
    with pytest.raises(AutoReplySuppressed):
        auto_reply(
            citizen_mail("Pas", header), received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10),
            tenant_name=TENANT, from_addr=FROM,
        )  # fmt: skip


def test_outbound_no_auto_reply_to_our_own_address() -> None:
    mail = citizen_mail("Pas", "From: kontakt@kommune.dk")
    with pytest.raises(AutoReplySuppressed):
        auto_reply(mail, received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT,
                   from_addr=FROM, own_addresses=[FROM])  # fmt: skip


def test_outbound_faq_content_needs_text_and_source() -> None:
    with pytest.raises(ValueError, match="source"):
        FaqContent(text="Svar", source=" ", reviewed="2026-01-01")
    with pytest.raises(ValueError):
        FaqContent(text="Svar", source="kk.dk", reviewed="i går")


# --- agent reply ----------------------------------------------------------------------------------


def test_outbound_agent_reply_is_threaded_without_auto_submitted() -> None:
    msg = reparsed(
        agent_reply(
            citizen_mail("SV: Ny adresse"), body="Hej Jens\n\nDin flytning er registreret.", agent_name="Mette",
            tenant_name=TENANT, from_addr=FROM, sent_at=cph(2027, 1, 4, 11), thread_root="<root@kommune.dk>",
        )
    )  # fmt: skip
    assert msg["Auto-Submitted"] is None and msg["X-Auto-Response-Suppress"] is None
    assert msg["Subject"] == "Re: Ny adresse"
    assert msg["In-Reply-To"] == "<citizen-2@example.dk>"
    assert msg["References"].split()[0] == "<root@kommune.dk>"
    assert str(msg.get_content()).replace("\r\n", "\n").endswith("Venlig hilsen\nMette\nKøbenhavns Kommune\n")


def test_outbound_agent_reply_needs_a_sender_address() -> None:
    mail = parse_mail(b"Subject: Hej\r\n\r\nTekst\r\n")
    with pytest.raises(NoReplyAddress):
        agent_reply(mail, body="Svar", agent_name="Mette", tenant_name=TENANT, from_addr=FROM, sent_at=cph(2027, 1, 4, 11))


# --- mail policy (seed 003 §5) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "case_topic", "purpose", "queue"),
    [
        ("generelt_aktindsigt", None, MailPurpose.AKTINDSIGT, "borgerservice_basis"),
        ("generelt_aktindsigt", "byggeri_konkret_sag", MailPurpose.AKTINDSIGT, "byg_cby"),
        ("generelt_klage", None, MailPurpose.KLAGE, "borgerservice_basis"),
        ("generelt_klage", "vej_byliv_arrangement", MailPurpose.KLAGE, "byliv_vej_ctb"),
        ("generelt_eftersendelse", "erhverv_refusion_sag", MailPurpose.CASE_DOCUMENT, "refusion_yds"),
        ("byggeri_konkret_sag", None, MailPurpose.CASE_DOCUMENT, "byg_cby"),
        ("erhverv_refusion_sag", None, MailPurpose.CASE_DOCUMENT, "refusion_yds"),
        ("generelt_udbetaling_danmark_sag", None, MailPurpose.CASE_DOCUMENT, "udbetaling_danmark"),
    ],
)
def test_outbound_policy_mail_goes_to_the_owning_unit_without_faq(
    contract: TopicContract, topic: str, case_topic: str | None, purpose: MailPurpose, queue: str
) -> None:
    hint = routing_hint(topic, contract, case_topic_id=case_topic)
    assert (hint.purpose, hint.queue, hint.faq_allowed) == (purpose, queue, False)


@pytest.mark.parametrize(
    ("topic", "faq_allowed"),
    [("borgerservice_pas", True), ("generelt_sagsstatus", False), ("social_selvmordstanker", False)],
)
def test_outbound_general_topics_get_faq_only_at_level_1(contract: TopicContract, topic: str, faq_allowed: bool) -> None:
    hint = routing_hint(topic, contract)
    assert hint.purpose is MailPurpose.GENERAL
    assert hint.faq_allowed is faq_allowed
    assert hint.queue == contract.topic(topic).queue


def test_outbound_unknown_topic_fails_loudly(contract: TopicContract) -> None:
    with pytest.raises(TopicContractError, match="no_such_topic"):
        routing_hint("no_such_topic", contract)


def test_outbound_policy_mail_gets_no_faq_answer(contract: TopicContract) -> None:
    hint = routing_hint("generelt_aktindsigt", contract)
    kwargs = dict(received_at=cph(2027, 1, 4, 8), deadline=cph(2027, 1, 4, 10), tenant_name=TENANT, from_addr=FROM)
    with pytest.raises(MailPolicyError, match="aktindsigt"):
        auto_reply(citizen_mail(), answer=ARTICLE, routing=hint, **kwargs)  # type: ignore[arg-type]
    text = body_of(auto_reply(citizen_mail(), routing=hint, **kwargs))  # type: ignore[arg-type]
    assert "Vi har sendt din henvendelse videre til den enhed, der behandler sagen." in text
    assert "Kilde" not in text


# --- SLA warning --------------------------------------------------------------------------------------

DUE = cph(2027, 1, 4, 10, 0)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (cph(2027, 1, 4, 9, 29), SlaState.OK),
        (cph(2027, 1, 4, 9, 30), SlaState.WARNING),
        (cph(2027, 1, 4, 9, 59), SlaState.WARNING),
        (cph(2027, 1, 4, 10, 0), SlaState.BREACHED),
        (cph(2027, 1, 5, 8, 0), SlaState.BREACHED),
    ],
)
def test_outbound_sla_state_wall_clock(now: datetime, state: SlaState) -> None:
    assert sla_state(DUE, now) is state
    assert deadline_warning_due(DUE, now) is (state is SlaState.WARNING)


def test_outbound_sla_warning_counts_only_opening_hours_with_a_schedule() -> None:
    due = cph(2026, 1, 5, 8, 10)  # Monday, 10 minutes after opening
    friday_evening = cph(2026, 1, 2, 17, 45)  # 15 open minutes left on Friday, then 10 on Monday
    assert not deadline_warning_due(due, friday_evening)  # wall clock: days away
    assert deadline_warning_due(due, friday_evening, schedule=DEFAULT)
    assert not deadline_warning_due(due, cph(2026, 1, 2, 17, 0), schedule=DEFAULT)
    assert deadline_warning_due(due, cph(2026, 1, 5, 7, 45), timedelta(minutes=30))  # before opening, wall clock


def test_outbound_sla_state_rejects_naive_datetimes() -> None:
    with pytest.raises(NaiveDatetime):
        sla_state(datetime(2027, 1, 4, 10), DUE)


# --- templates ---------------------------------------------------------------------------------------


def test_outbound_templates_load_and_reject_unknown_placeholders(tmp_path: Path) -> None:
    load_templates(TEMPLATES_PATH)
    broken = tmp_path / "t.yml"
    broken.write_text(TEMPLATES_PATH.read_text(encoding="utf-8").replace("{deadline}", "{dedline}"), encoding="utf-8")
    with pytest.raises(ValueError, match="dedline"):
        load_templates(broken)
