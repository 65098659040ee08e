"""`python -m bot demo-day [--date YYYY-MM-DD]`: play a realistic day through the real engine into
the configured database, so a new installation shows a populated wallboard and reports at once.

The day follows the Monday shape of the Copenhagen concept (docs/capacity.md: busiest 10–11),
scaled to a small centre: about 420 contacts from 08:00 to 18:00, 58 % by phone, 28 % by chat and
14 % by e-mail, across a handful of common topics. Every step goes through
`bot.engine.ConversationEngine` with a simulated clock, so the events are exactly what the live
system writes: the bot answers, guides to self-service, asks to clarify (those show up as weak
questions) or hands off; citizens wait, some hang up; demo agents accept offers, reply and close
with an outcome code, then go into after-contact work.

For today (the default) the day is played up to the current time, so callers still waiting stay
in the queue for the wallboard. A day already played is refused: demo data is never doubled.
The draws are seeded by the date, so the same day always gives the same figures.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import utcnow
from bot.engine import ConversationEngine
from bot.errors import AgentExists, IllegalTransition, KontaktError, StaleOffer
from bot.routing.skills import AgentState, Channel
from bot.storage import Database
from bot.storage.models import ContactState
from bot.tenants import load_tenants
from bot.topics import TopicContract, load_contract
from bot.types import Action, ArticleRef, HandoffReason, TriageDecision

CPH = ZoneInfo("Europe/Copenhagen")
OPEN, CLOSE = time(8, 0), time(18, 0)
# Contacts per half hour from 08:00 (the concept's Monday shape, scaled to a small centre).
VOICE = (4, 5, 14, 17, 21, 21, 20, 19, 17, 18, 18, 18, 15, 14, 8, 7, 3, 3, 2, 2)
CHAT = (2, 2, 6, 8, 10, 10, 9, 9, 8, 8, 8, 8, 7, 6, 4, 3, 2, 2, 2, 2)
EMAIL = (3, 2, 4, 4, 5, 5, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2)
# topic -> what citizens write (the demo's own Danish sample texts)
QUESTIONS = {
    "borgerservice_pas": ("Hvordan fornyer jeg mit pas?", "Mit pas udløber snart, hvad gør jeg?"),
    "borgerservice_flytning": ("Jeg skal flytte, hvordan melder jeg flytning?", "Hvor melder jeg ny adresse?"),
    "borgerservice_mitid": ("Jeg kan ikke logge på MitID", "Min MitID-app virker ikke"),
    "pension_folkepension": ("Hvornår kan jeg få folkepension?", "Hvordan søger jeg folkepension?"),
    "boligstoette_boligstoette": ("Kan jeg få boligstøtte?", "Hvor meget kan jeg få i boligstøtte?"),
    "sundhed_sundhedskort": ("Jeg har mistet mit sundhedskort", "Hvordan får jeg et nyt sundhedskort?"),
    "generelt_sagsstatus": ("Hvor langt er min sag?", "Jeg har ikke hørt noget om min ansøgning"),
}
# Questions the bot cannot answer: they become the weak questions of the reports.
UNANSWERED = (
    "Må jeg have høns i baghaven?", "Må man holde høns i haven i byen?", "Hvornår åbner den nye svømmehal?",
    "Åbner svømmehallen snart igen?", "Kan jeg låne en ladcykel af kommunen?",
)
AGENTS = ("demo-anne", "demo-bo", "demo-camilla", "demo-dennis", "demo-eva", "demo-frederik", "demo-gitte")
OUTCOMES = ("straksafklaret",) * 6 + ("henvist_til_selvbetjening", "vejledt_i_selvbetjening", "omstillet",
                                       "tilbagekald_aftalt")  # fmt: skip
HANDLE = {Channel.VOICE: 240.0, Channel.CHAT: 360.0, Channel.EMAIL: 420.0}  # mean seconds with the agent
PATIENCE = {Channel.VOICE: 150.0, Channel.CHAT: 300.0}  # mean seconds before leaving the queue
TICK = 60.0  # the router runs at every handoff and end of after-contact work, and this often besides


@dataclass
class _Sim:
    engine: ConversationEngine
    tenant: str
    rng: random.Random
    now: datetime
    end: datetime
    queue: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    counts: dict[str, int] = field(default_factory=dict)

    def at(self, when: datetime, step: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), step))

    def after(self, seconds: float, step: Callable[[], None]) -> None:
        self.at(self.now + timedelta(seconds=seconds), step)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _decision(contract: TopicContract, action: Action, topic: str | None, confidence: float) -> TriageDecision:
    t = contract.by_id.get(topic) if topic else None
    article = None
    if action in (Action.ANSWER, Action.SELFSERVICE) and t is not None:
        article = ArticleRef(id=t.id, title=t.title, source="kontakt demo", source_url=None, reviewed="2026-01-01",
                             historical=False)  # fmt: skip
    reason = HandoffReason.CASEWORK if action is Action.HANDOFF else None
    return TriageDecision(action, topic, t.queue if t else None, False, confidence, article, reason=reason)


def _arrivals(day: date, scale: float, rng: random.Random) -> list[tuple[datetime, Channel]]:
    out = []
    start = datetime.combine(day, OPEN, CPH)
    for channel, profile in ((Channel.VOICE, VOICE), (Channel.CHAT, CHAT), (Channel.EMAIL, EMAIL)):
        for slot, count in enumerate(profile):
            for _ in range(max(0, round(count * scale))):
                offset = timedelta(minutes=30 * slot, seconds=rng.uniform(0, 1800))
                out.append(((start + offset).astimezone(UTC), channel))
    return sorted(out)


def _arrive(sim: _Sim, n: int, channel: Channel) -> None:
    e, rng, tenant = sim.engine, sim.rng, sim.tenant
    c = e.open_contact(tenant, channel, f"demo-{sim.now.astimezone(CPH):%Y%m%d}-{n}",
                       phone=f"+45 2{rng.randrange(10**7):07d}" if channel is Channel.VOICE else None)  # fmt: skip
    sim.count(channel.value)
    weak = rng.random() < (0.0 if channel is Channel.EMAIL else 0.06)
    topic = rng.choice(list(QUESTIONS))
    text = rng.choice(UNANSWERED) if weak else rng.choice(QUESTIONS[topic])
    e.record_inbound(tenant, c.id, text)
    contract = e.contract
    if weak:
        e.record_bot_reply(tenant, c.id, "Det er jeg ikke sikker på. Kan du sige det på en anden måde?",
                           _decision(contract, Action.CLARIFY, None, rng.uniform(0.2, 0.45)))  # fmt: skip
        sim.after(rng.uniform(20, 90), lambda: _leave(sim, c.id))
        return
    handling = contract.by_id[topic].handling
    to_bot = channel is not Channel.EMAIL and handling in ("answer", "selfservice") and rng.random() < (
        0.75 if channel is Channel.CHAT else 0.35
    )
    if to_bot:
        action = Action.ANSWER if handling == "answer" else Action.SELFSERVICE
        e.record_bot_reply(tenant, c.id, "Her er svaret fra kommunens vejledning.",
                           _decision(contract, action, topic, rng.uniform(0.62, 0.98)))  # fmt: skip
        sim.after(rng.uniform(30, 180), lambda: _leave(sim, c.id))
        return
    decision = _decision(contract, Action.HANDOFF, topic, rng.uniform(0.55, 0.95))
    if channel is Channel.CHAT:
        e.record_bot_reply(tenant, c.id, "Jeg sætter dig i kø til en medarbejder.", decision)
    e.request_handoff(tenant, c.id, decision, None if channel is Channel.CHAT else "topic_policy"
                      if channel is Channel.EMAIL else "asked_for_human")  # fmt: skip
    _route(sim)
    if channel in PATIENCE:
        sim.after(rng.expovariate(1 / PATIENCE[channel]), lambda: _leave(sim, c.id, queued=True))


def _leave(sim: _Sim, contact_id: str, *, queued: bool = False) -> None:
    state = sim.engine.contact(sim.tenant, contact_id).state
    if state in ((ContactState.QUEUED, ContactState.OFFERED) if queued else (ContactState.BOT,)):
        sim.engine.mark_abandoned(sim.tenant, contact_id)
        sim.count("abandoned_in_queue" if queued else "left_the_bot")


def _route(sim: _Sim) -> None:
    for offer in sim.engine.route(sim.tenant):
        sim.after(sim.rng.uniform(2, 6), lambda o=offer: _accept(sim, o.id, o.agent_id, o.contact_id, o.channel))


def _accept(sim: _Sim, offer_id: int, agent: str, contact_id: str, channel: Channel) -> None:
    try:
        sim.engine.accept_offer(sim.tenant, offer_id, agent)
    except (StaleOffer, IllegalTransition):
        return  # the citizen hung up while it rang
    sim.count("answered")
    handle = sim.rng.expovariate(1 / HANDLE[channel])
    if channel is not Channel.VOICE:
        sim.after(min(30.0, handle / 2), lambda: sim.engine.agent_reply(
            sim.tenant, agent, contact_id, "Tak for din henvendelse. Jeg hjælper dig gerne."))  # fmt: skip
    sim.after(handle + 1, lambda: _close(sim, agent, contact_id))


def _close(sim: _Sim, agent: str, contact_id: str) -> None:
    sim.engine.close(sim.tenant, agent, contact_id, sim.rng.choice(OUTCOMES))
    _route(sim)  # a chat agent may take the next one at once
    sim.after(sim.engine.policy.acw_seconds + 0.5, lambda: _route(sim))  # after-contact work is over


def _tick(sim: _Sim) -> None:
    _route(sim)
    if sim.now + timedelta(seconds=TICK) < sim.end:
        sim.after(TICK, lambda: _tick(sim))


def play_day(engine: ConversationEngine, tenant: str, day: date, *, until: datetime | None = None,
             scale: float = 1.0, agents: int = 5) -> dict[str, int]:  # fmt: skip
    """Play `day` for `tenant` through `engine` (whose clock this replaces) up to `until`
    (default: the end of the day's activity); returns what happened, counted."""
    rng = random.Random(f"kontakt-demo-{tenant}-{day.isoformat()}")
    start = datetime.combine(day, OPEN, CPH).astimezone(UTC)
    closing = datetime.combine(day, CLOSE, CPH).astimezone(UTC)
    end = min(until, closing + timedelta(hours=1)) if until is not None else closing + timedelta(hours=1)
    sim = _Sim(engine, tenant, rng, start - timedelta(minutes=5), end)
    engine.clock = lambda: sim.now
    # The queues the questions go to, as this tenant runs them (a queue it does not run: its fallback).
    own = engine.tenant_routing.get(tenant)
    queues = sorted({own.queue_for(q) if own else q for q in (engine.contract.by_id[t].queue for t in QUESTIONS)})
    for agent in AGENTS[:agents]:
        try:
            engine.add_agent(tenant, agent, agent.removeprefix("demo-").title(), skills=dict.fromkeys(queues, 5))
        except AgentExists:
            pass
        engine.set_agent_state(tenant, agent, AgentState.AVAILABLE)
    sim.at(start, lambda: _tick(sim))
    for n, (when, channel) in enumerate(_arrivals(day, scale, rng)):
        sim.at(when, lambda n=n, ch=channel: _arrive(sim, n, ch))
    for agent in AGENTS[:agents]:
        sim.at(closing + timedelta(minutes=30), lambda a=agent: _log_out(sim, a))
    while sim.queue and sim.queue[0][0] <= end:
        sim.now, _, step = heapq.heappop(sim.queue)
        step()
    sim.now = end
    return dict(sorted(sim.counts.items()))


def _log_out(sim: _Sim, agent: str) -> None:
    if sim.engine.agent_state(sim.tenant, agent).state is not AgentState.BUSY:
        sim.engine.set_agent_state(sim.tenant, agent, AgentState.OFFLINE)


def add_demo_day_command(sub: Any) -> None:
    p = sub.add_parser("demo-day", help="play a realistic day through the engine into the database (for a demo)")
    p.add_argument("--date", help="the day, YYYY-MM-DD (default: today, played up to now)")
    p.add_argument("--tenant", help="the municipality (default: the default tenant of knowledge/tenants.yaml)")
    p.add_argument("--scale", type=float, default=1.0, help="contacts relative to the default ~420 (default 1)")
    p.add_argument("--agents", type=int, default=5, help=f"demo agents on duty, 1..{len(AGENTS)} (default 5)")


def run_demo_day_command(args: argparse.Namespace, settings: Any) -> int:
    import sys

    now = utcnow()
    try:
        day = date.fromisoformat(args.date) if args.date else now.astimezone(CPH).date()
    except ValueError:
        print(f"--date {args.date!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-07", file=sys.stderr)
        return 2
    if day > now.astimezone(CPH).date():
        print(f"--date {day} lies in the future; a demo day is played up to now at most", file=sys.stderr)
        return 2
    if not 1 <= args.agents <= len(AGENTS) or not 0 < args.scale <= 10:
        print(f"--agents must be 1..{len(AGENTS)} and --scale above 0 up to 10", file=sys.stderr)
        return 2
    tenants = load_tenants(settings.tenants_file)
    try:
        tenant = tenants.get(args.tenant)
    except KontaktError as exc:
        print(f"--tenant: {exc}", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    db.migrate()
    engine = ConversationEngine(db, load_contract(settings.topics_file), clock=lambda: now)
    engine.set_up_tenant(tenant)  # its queues, hours and policy, as the server sets it up
    from bot.storage import repository

    with db.read() as s:
        played = any(
            repository.find_contact(s, tenant_id=tenant.id, channel=ch, external_ref=f"demo-{day:%Y%m%d}-0")
            for ch in Channel
        )
    if played:
        print(f"{tenant.name}: {day} has already been played into {db!r}; pick another --date", file=sys.stderr)
        return 2
    until = now if day == now.astimezone(CPH).date() else None
    print(f"Playing {day} for {tenant.name} into {db!r}" + (" up to now" if until else "") + " …")
    counts = play_day(engine, tenant.id, day, until=until, scale=args.scale, agents=args.agents)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()) or "nothing yet")
    if until is not None and until < datetime.combine(day, time(10, 0), CPH):
        print("The day has barely begun; for a whole day add e.g. --date "
              f"{day - timedelta(days=7)} and open the reports for that day.")
    print("See /agent/wallboard and /agent/reports (log in with a supervisor token: python -m bot agent add …)")
    db.dispose()
    return 0
