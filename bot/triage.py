"""The triage decision: answer, guide to self-service, ask (clarify), hand off, refuse as out of
scope, or refer to 112. Pure functions over the NLU result, the topic contract and article hits.

Order of precedence, most important first:
1. acute danger (safety layer or the emergency class) -> emergency: call 112, never a KB answer,
   and never a sensitive handoff instead: acute beats sensitive, however strong the distress;
2. sensitive situations (segment 2) -> handoff to the topic's specialist queue at once;
3. the citizen asks for a human -> handoff (to the queue of the topic discussed, if known);
4. out of scope -> polite refusal;
5. a confident topic -> its handling: answer / selfservice with an article, or handoff
   (level 2/3: decisions, payments and case status always go to people; the bot promises nothing);
6. otherwise -> clarify with the 2–3 best topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.topics import EMERGENCY, HUMAN, OUT_OF_SCOPE, Handling, TopicContract
from bot.types import Action, ArticleHit, ArticleRef, HandoffReason, NLUResult, TriageDecision


@dataclass(frozen=True)
class TriagePolicy:
    answer_threshold: float = 0.45  # top-1 probability to act on a topic without asking
    retrieval_agreement: float = 0.25  # lower bar when the best article is of the same topic
    margin: float = 0.05  # top-1 minus top-2 below this -> ask, unless top-1 is high
    clarify_floor: float = 0.08  # candidates below this are not offered
    out_of_scope_threshold: float = 0.5
    emergency_threshold: float = 0.25  # the same as bot.safety.SafetyPolicy.emergency_threshold
    sensitive_threshold: float = 0.30
    human_threshold: float = 0.40
    human_runner_up: float = 0.15  # a request for a person this likely, top or second, is handed off
    max_candidates: int = 3


def _decision(action: Action, topic: str | None, contract: TopicContract, conf: float, **kw: Any) -> TriageDecision:
    t = contract.by_id.get(topic) if topic else None
    queue = kw.pop("queue", t.queue if t else None)
    return TriageDecision(
        action=action, topic=topic, queue=queue, sensitive=bool(t and t.sensitive), confidence=conf, **kw
    )


def emergency_decision(nlu: NLUResult, contract: TopicContract, policy: TriagePolicy) -> TriageDecision | None:
    """Acute danger, whatever else the message also is. The emergency topic as the best guess of
    the topic classifier is enough on its own, however unsure: of two readings of a message, one
    of them acute, the acute one wins (a needless referral costs little, a missed one a life)."""
    top_is_emergency = nlu.top.name == EMERGENCY
    p = max(nlu.safety.emergency, nlu.top.confidence if top_is_emergency else 0.0)
    if p >= policy.emergency_threshold or top_is_emergency:
        why = "; ".join(nlu.safety.reasons) or f"classifier emergency={nlu.top.confidence:.2f}"
        return _decision(Action.EMERGENCY, EMERGENCY, contract, p, reason=HandoffReason.EMERGENCY, explanation=why)
    return None


def sensitive_decision(nlu: NLUResult, contract: TopicContract, policy: TriagePolicy) -> TriageDecision | None:
    if nlu.safety.topic and nlu.safety.distress >= policy.sensitive_threshold:
        return _decision(
            Action.HANDOFF, nlu.safety.topic, contract, nlu.safety.distress,
            reason=HandoffReason.SENSITIVE, explanation="; ".join(nlu.safety.reasons),
        )
    top = contract.by_id.get(nlu.top.name)
    if top and top.sensitive and top.id != EMERGENCY and nlu.top.confidence >= policy.sensitive_threshold:
        return _decision(
            Action.HANDOFF, top.id, contract, nlu.top.confidence,
            reason=HandoffReason.SENSITIVE, explanation=f"sensitive topic {top.id}",
        )
    return None


def human_decision(
    nlu: NLUResult, contract: TopicContract, policy: TriagePolicy, previous_topic: str | None
) -> TriageDecision | None:
    if nlu.top.name != HUMAN or nlu.top.confidence < policy.human_threshold:
        return None
    topic = previous_topic if previous_topic in contract.by_id else HUMAN
    return _decision(
        Action.HANDOFF, topic, contract, nlu.top.confidence,
        reason=HandoffReason.ASKED_FOR_HUMAN, explanation="citizen asked for a human",
    )


def out_of_scope_decision(nlu: NLUResult, contract: TopicContract, policy: TriagePolicy) -> TriageDecision | None:
    if nlu.top.name == OUT_OF_SCOPE or nlu.out_of_scope >= policy.out_of_scope_threshold:
        return _decision(
            Action.OUT_OF_SCOPE, OUT_OF_SCOPE, contract, max(nlu.out_of_scope, nlu.top.confidence),
            queue=None, explanation=f"out_of_scope={nlu.out_of_scope:.2f}",
        )
    return None


def _article_for(topic: str, hits: Sequence[ArticleHit], articles: Mapping[str, ArticleRef],
                 by_topic: Mapping[str, Sequence[str]]) -> ArticleRef | None:
    for h in hits:
        if h.topic == topic:
            return articles[h.article_id]
    ids = by_topic.get(topic, ())
    return articles[ids[0]] if ids else None


def topic_decision(
    topic_id: str, confidence: float, contract: TopicContract, hits: Sequence[ArticleHit],
    articles: Mapping[str, ArticleRef], by_topic: Mapping[str, Sequence[str]],
) -> TriageDecision:
    """What the topic's handling says, for a topic we are confident about."""
    topic = contract.topic(topic_id)
    if topic.handling in (Handling.ANSWER, Handling.SELFSERVICE):
        article = _article_for(topic_id, hits, articles, by_topic)
        if article is not None:
            action = Action.ANSWER if topic.handling == Handling.ANSWER else Action.SELFSERVICE
            return _decision(action, topic_id, contract, confidence, article=article)
        # No article (e.g. a tenant without content): a person answers instead of the bot guessing.
        return _decision(Action.HANDOFF, topic_id, contract, confidence, reason=HandoffReason.TOPIC_POLICY,
                         explanation="no article for topic")
    if topic.handling == Handling.OUT_OF_SCOPE:
        return _decision(Action.OUT_OF_SCOPE, topic_id, contract, confidence, queue=None)
    if topic.handling == Handling.EMERGENCY:
        return _decision(Action.EMERGENCY, topic_id, contract, confidence, reason=HandoffReason.EMERGENCY)
    reason = HandoffReason.CASEWORK if topic.level > 1 else HandoffReason.TOPIC_POLICY
    if topic.sensitive:
        reason = HandoffReason.SENSITIVE
    return _decision(Action.HANDOFF, topic_id, contract, confidence, reason=reason,
                     explanation=f"level {topic.level} topic, handling {topic.handling}")


def clarify_candidates(nlu: NLUResult, contract: TopicContract, policy: TriagePolicy) -> tuple[str, ...]:
    out = []
    for s in nlu.ranking:
        t = contract.by_id.get(s.name)
        if t is None or t.domain == "dialog" or s.confidence < policy.clarify_floor:
            continue
        out.append(s.name)
        if len(out) == policy.max_candidates:
            break
    return tuple(out)


def triage(
    nlu: NLUResult,
    contract: TopicContract,
    hits: Sequence[ArticleHit],
    articles: Mapping[str, ArticleRef],
    by_topic: Mapping[str, Sequence[str]],
    policy: TriagePolicy = TriagePolicy(),
    previous_topic: str | None = None,
) -> TriageDecision:
    rules: tuple[Callable[[], TriageDecision | None], ...] = (
        lambda: emergency_decision(nlu, contract, policy),
        lambda: sensitive_decision(nlu, contract, policy),
        lambda: human_decision(nlu, contract, policy, previous_topic),
        lambda: out_of_scope_decision(nlu, contract, policy),
    )
    for rule in rules:
        decided = rule()
        if decided is not None:
            return decided

    top = nlu.ranking[0]
    second = nlu.ranking[1].confidence if len(nlu.ranking) > 1 else 0.0
    agrees = bool(hits) and hits[0].topic == top.name
    confident = top.confidence >= policy.answer_threshold and (
        top.confidence - second >= policy.margin or top.confidence >= 0.7
    )
    if confident or (agrees and top.confidence >= policy.retrieval_agreement and top.confidence - second >= policy.margin):
        return topic_decision(top.name, top.confidence, contract, hits, articles, by_topic)

    candidates = clarify_candidates(nlu, contract, policy)
    sensitive = [c for c in candidates if contract.by_id[c].sensitive]
    if sensitive:
        # Never offer a sensitive situation as a menu button: a person takes it, at once.
        return _decision(Action.HANDOFF, sensitive[0], contract, top.confidence, reason=HandoffReason.SENSITIVE,
                         explanation=f"sensitive candidate {sensitive[0]} while unsure")
    if any(s.name == HUMAN and s.confidence >= policy.human_runner_up for s in nlu.ranking[:2]):
        # Unsure what it is about, but a person may well be what the citizen asked for: asking
        # "which of these?" first would answer a request for a person with a menu.
        topic = previous_topic if previous_topic in contract.by_id else top.name
        return _decision(
            Action.HANDOFF, topic if contract.by_id[topic].domain != "dialog" else HUMAN, contract,
            top.confidence, reason=HandoffReason.ASKED_FOR_HUMAN, explanation="unsure, a person among the top two",
        )
    if len(candidates) >= 2 and all(contract.by_id[c].handling == Handling.HANDOFF for c in candidates[:2]):
        # Whichever of them it is, a person takes it: asking the citizen first gains nothing. One
        # weak guess alone is no such evidence: then the citizen is asked, with "a person" offered.
        return topic_decision(candidates[0], top.confidence, contract, hits, articles, by_topic)
    if not candidates:
        return _decision(Action.OUT_OF_SCOPE, OUT_OF_SCOPE, contract, nlu.out_of_scope, queue=None,
                         explanation="no candidate topic")
    return _decision(
        Action.CLARIFY, candidates[0], contract, top.confidence, candidates=candidates,
        explanation=f"top={top.name}:{top.confidence:.2f} second={second:.2f}",
    )
