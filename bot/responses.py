"""Render a triage decision as chat messages (Rasa REST channel shape: text + buttons).
Wording lives in resources/responses_da.yml; this module only chooses and fills it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from bot.retrieval.articles import Article
from bot.topics import TopicContract
from bot.types import Action, HandoffReason, TriageDecision
from bot.yaml_safe import safe_load


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    return safe_load(resources.files("bot.resources").joinpath("responses_da.yml").read_text("utf-8"))


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    custom: dict = field(default_factory=dict)


def _t(key: str, lang: str = "da", **kw: str) -> str:
    table = texts()
    template = table.get(lang, {}).get(key) or table["da"][key]
    return template.format(**kw)


def _human_button(lang: str) -> Button:
    return Button(_t("human_button", lang), "/dialog_menneske")


def article_text(article: Article) -> str:
    parts = [article.body]
    if article.historical:
        parts.append(_t("historical"))
    parts.append(_t("cite", source=article.sources[0].title, reviewed=article.reviewed.isoformat()))
    return "\n\n".join(parts)


def render(decision: TriageDecision, contract: TopicContract, articles: dict[str, Article], lang: str = "da") -> list[BotMessage]:
    queue = contract.queue_by_id.get(decision.queue) if decision.queue else None
    queue_name = queue.name if queue else ""
    custom = {"triage": {"action": decision.action.value, "topic": decision.topic, "queue": decision.queue}}
    if decision.action == Action.EMERGENCY:
        return [BotMessage(_t("emergency", lang), (_human_button(lang),), custom)]
    if decision.action == Action.OUT_OF_SCOPE:
        return [BotMessage(_t("out_of_scope", lang), (_human_button(lang),), custom)]
    if decision.action == Action.CLARIFY:
        buttons = [Button(contract.by_id[t].title, f"/{t}") for t in decision.candidates]
        buttons.append(_human_button(lang))
        return [BotMessage(_t("clarify", lang), tuple(buttons), custom)]
    if decision.action == Action.HANDOFF:
        if decision.reason == HandoffReason.SENSITIVE:
            msgs = [BotMessage(_t("sensitive", lang, queue=queue_name), (), custom)]
            extra = {"social_selvmordstanker": "sensitive_suicide", "social_vold": "sensitive_violence"}.get(
                decision.topic or ""
            )
            if extra and lang == "da":
                msgs.append(BotMessage(_t(extra)))
            return msgs
        key = {
            HandoffReason.ASKED_FOR_HUMAN: "handoff_human",
            HandoffReason.CASEWORK: "handoff_casework",
        }.get(decision.reason, "handoff")
        if queue and queue.kind == "external" and key == "handoff" and lang == "da":
            key = "handoff_external"
        return [BotMessage(_t(key, lang, queue=queue_name), (), custom)]
    article = articles.get(decision.article.id) if decision.article else None
    if article is None:
        return [BotMessage(_t("handoff", lang, queue=queue_name), (), custom)]
    msgs = []
    if lang == "en":
        msgs.append(BotMessage(_t("english_answer", "en")))
    msgs.append(BotMessage(article_text(article), (), custom))
    if decision.action == Action.SELFSERVICE and article.selfservice:
        ss = article.selfservice
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(ss.steps, 1))
        lines = [_t("selfservice_intro", name=ss.name)]
        if steps:
            lines.append(steps)
        if ss.url:
            lines.append(_t("selfservice_link", url=ss.url))
        lines.append(_t("selfservice_help"))
        msgs.append(BotMessage("\n".join(lines), (_human_button(lang),)))
    return msgs
