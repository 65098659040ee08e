"""The loaded understanding core: NLU (topics, entities, out-of-scope, safety), retrieval and
triage, behind one `parse()` call. One embedding per message serves both the classifier and the
article search."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from bot.config import Settings
from bot.errors import IndexMismatch, ModelNotBuilt
from bot.knowledge.overlay import LocalContent, load_local, tenant_view
from bot.nlu.classifier import TopicModel
from bot.nlu.entities import EntityExtractor
from bot.nlu.text import bounded
from bot.retrieval.articles import Article, load_articles
from bot.retrieval.embedder import Embedder, make_embedder
from bot.retrieval.index import ArticleIndex
from bot.safety import SafetyPolicy, assess, safety_chunks
from bot.safety_model import SafetyModel, SafetyThresholds
from bot.tenants import load_tenants
from bot.topics import TopicContract, load_contract
from bot.train import MANIFEST_FILE, MODEL_FORMAT
from bot.triage import TriagePolicy, triage
from bot.types import ArticleHit, ArticleRef, IntentScore, NLUResult, TriageDecision

_EN_WORDS = frozenset(
    "the is are what when where how can i you my do does please help need want to of and with for speak english "
    "hello hi who why".split()
)
_DA_WORDS = frozenset(
    "jeg du er det at og en et til på med har kan hvad hvornår hvordan hvor skal vil min mit mine ikke om af "
    "hej tak for den de vi".split()
)


def detect_language(text: str) -> str:
    ws = re.findall(r"[a-zæøå']+", text.lower())
    en = sum(w in _EN_WORDS for w in ws)
    da = sum(w in _DA_WORDS for w in ws)
    return "en" if en >= 2 and en > da else "da"


def _by_topic(articles: Mapping[str, Article]) -> dict[str, list[str]]:
    """Article ids per topic, national ones first."""
    out: dict[str, list[str]] = {}
    for a in sorted(articles.values(), key=lambda a: (a.tenant != "*", a.id)):
        out.setdefault(a.topic, []).append(a.id)
    return out


# The models read the recent conversation from its end: the embedder understands a query from its
# beginning and cuts it after MAX_QUERY_TOKENS, so a long history must never push the newest
# message out of the window's vector. (The lexicon reads the whole window.)
WINDOW_MODEL_CHARS = 600


def model_window(history: Sequence[str], text: str) -> str | None:
    """The recent citizen messages and this one, joined, cut to the last WINDOW_MODEL_CHARS at a
    word boundary; None without history."""
    if not history:
        return None
    window = " \n ".join([*history, text])
    if len(window) <= WINDOW_MODEL_CHARS:
        return window
    tail = window[-WINDOW_MODEL_CHARS:]
    cut = tail.find(" ")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail


@dataclass(frozen=True)
class Parsed:
    nlu: NLUResult
    hits: tuple[ArticleHit, ...]
    decision: TriageDecision


class Understanding:
    def __init__(
        self,
        contract: TopicContract,
        embedder: Embedder,
        classifier: TopicModel,
        extractor: EntityExtractor,
        index: ArticleIndex,
        settings: Settings,
        safety_model: SafetyModel | None = None,
        safety_thresholds: SafetyThresholds | None = None,
    ) -> None:
        self.contract = contract
        self.embedder = embedder
        self.classifier = classifier
        self.extractor = extractor
        self.index = index
        self.settings = settings
        self.articles: dict[str, Article] = index.articles
        self.article_refs = {a.id: a.ref() for a in self.articles.values()}
        # Each municipality's view: national articles completed by its local overlay (its own
        # links, fees, hours), never another municipality's page as if it were the citizen's own.
        self._views: dict[str, dict[str, Article]] = {}
        self._view_refs: dict[str, dict[str, ArticleRef]] = {}
        self.local = LocalContent({})
        self.tenant_ids: tuple[str, ...] = ()
        self.by_topic: dict[str, list[str]] = _by_topic(self.articles)
        self.sensitive_topics = tuple(t.id for t in contract.topics if t.sensitive and t.handling == "handoff")
        # The answer threshold is learned from out-of-fold predictions at training time.
        t = getattr(classifier, "answer_threshold", TriagePolicy.answer_threshold)
        self.triage_policy = TriagePolicy(answer_threshold=t, retrieval_agreement=round(t * 0.7, 2))
        self.safety_model = safety_model
        st = (safety_thresholds or (safety_model.thresholds if safety_model else SafetyThresholds())).in_force()
        self.safety_policy = SafetyPolicy(
            window=settings.conversation_window,
            model_acute_threshold=st.acute,
            model_sensitive_threshold=st.sensitive,
            not_now_factor=st.not_now_factor,
            chunk_factor=st.chunk_factor,
            chunk_not_now_factor=st.chunk_not_now_factor,
        )

    def use_local(self, local: LocalContent, tenant_ids: Sequence[str]) -> None:
        """Build each tenant's view of the articles from the local overlays."""
        self.__dict__.update(self._article_state(self.index.articles, local, tuple(tenant_ids)))

    def use_articles(self, local: LocalContent) -> None:
        """Take the index's articles as they are now (after `ArticleIndex.replace_article`) and
        `local` as the overlays in force: every view is rebuilt aside and swapped in at once, so
        a parse running meanwhile reads either the old articles or the new ones."""
        self.__dict__.update(self._article_state(self.index.articles, local, self.tenant_ids))

    def with_articles(self, index: ArticleIndex, local: LocalContent) -> Understanding:
        """A copy sharing the models that answers from other articles (an editor's preview);
        this understanding is left as it is."""
        other = copy.copy(self)
        other.index = index
        other.__dict__.update(self._article_state(index.articles, local, self.tenant_ids))
        return other

    @staticmethod
    def _article_state(articles: dict[str, Article], local: LocalContent, tenant_ids: tuple[str, ...]) -> dict:
        national = list(articles.values())
        views: dict[str, dict[str, Article]] = {}
        for tenant_id in tenant_ids:
            views[tenant_id] = {a.id: a for a in tenant_view(national, local, tenant_id)}
        return {
            "articles": articles,
            "article_refs": {a.id: a.ref() for a in national},
            "by_topic": _by_topic(articles),
            "_views": views,
            "_view_refs": {t: {a.id: a.ref() for a in view.values()} for t, view in views.items()},
            "local": local,
            "tenant_ids": tenant_ids,
        }

    def articles_for(self, tenant: str | None) -> Mapping[str, Article]:
        """The articles as the tenant's citizens get them (every article without a tenant)."""
        return self._views.get(tenant, self.articles) if tenant else self.articles

    def refs_for(self, tenant: str | None) -> Mapping[str, ArticleRef]:
        return self._view_refs.get(tenant, self.article_refs) if tenant else self.article_refs

    @classmethod
    def load(cls, settings: Settings) -> Understanding:
        started = time.perf_counter()
        # The classifier's matrices are tiny: one BLAS thread for them, set before the first
        # product. OpenBLAS threads left spinning after them starve the embedder's threads (parse
        # p50 28 -> 16 ms, p99 125 -> 31 ms on 2 cores), and a product it splits while the model
        # loads (the shortlist's checks) leaves each helper thread's buffer resident for good
        # (7 MB after start-up on 2 cores, measured).
        threadpool_limits(limits=1, user_api="blas")
        try:
            manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
            found = manifest.get("format", {}).get("version")
            if found != MODEL_FORMAT:
                raise ValueError(f"model format {found!r}, this version reads {MODEL_FORMAT!r}")
            classifier = TopicModel.load(settings.model_dir)
            safety_model = SafetyModel.load(settings.model_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotBuilt(f"no trained model in {settings.model_dir}: run `python -m bot train` ({exc})") from None
        if manifest["embedder_spec"] != settings.embedder:
            raise IndexMismatch(
                f"model in {settings.model_dir} was trained with embedder {manifest['embedder_spec']!r}, "
                f"settings ask for {settings.embedder!r}: run `python -m bot train`"
            )
        contract = load_contract(settings.topics_file)
        embedder = make_embedder(settings.embedder, threads=settings.embedder_threads, cache_dir=settings.cache_dir)
        articles = load_articles(settings.articles_dir, contract)
        index = ArticleIndex.load(settings.model_dir, articles, embedder)
        extractor = EntityExtractor(manifest["synonyms"], manifest["lookups"])
        # The manifest holds the alarm thresholds in force (fitted at training, tunable there).
        raw = manifest.get("safety", {}).get("thresholds")
        thresholds = SafetyThresholds.from_dict(raw) if raw else None
        self = cls(contract, embedder, classifier, extractor, index, settings, safety_model, thresholds)
        tenant_ids = [t.id for t in load_tenants(settings.tenants_file).tenants]
        self.use_local(load_local(settings.articles_dir.parent / "local", list(articles), tenant_ids), tenant_ids)
        if hasattr(embedder, "warm_up"):
            embedder.warm_up()
        self.parse("hej")  # first call pays for lazy initialisation, not the first citizen
        self.load_seconds = time.perf_counter() - started
        return self

    def _probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vecs = self.embedder.queries(list(texts))
        probs, oos = self.classifier.predict(texts, vecs)
        return vecs, probs, oos

    def parse(
        self,
        text: str,
        history: Sequence[str] = (),
        tenant: str | None = None,
        previous_topic: str | None = None,
    ) -> Parsed:
        # Understanding works on the bounded form; channels store what the citizen wrote in full.
        limit = self.settings.max_text_chars
        text = bounded(text, limit)
        history = [bounded(h, limit) for h in history[-(self.safety_policy.window - 1) :]]
        window = model_window(history, text)
        texts = [text] if window is None else [text, window]
        # A long message is also read sentence by sentence for danger; its windows are embedded in
        # the same call, and only the safety model reads them.
        chunks = list(safety_chunks(text)) if self.safety_model is not None else []
        all_vecs = self.embedder.queries([*texts, *chunks])
        vecs = all_vecs[: len(texts)]
        probs, oos = self.classifier.predict(texts, vecs)
        labels = self.classifier.labels
        p_msg = dict(zip(labels, probs[0].tolist(), strict=True))
        p_win = dict(zip(labels, probs[1].tolist(), strict=True)) if window is not None else None
        order = np.argsort(-probs[0])
        ranking = tuple(IntentScore(labels[i], float(probs[0][i])) for i in order)
        scores = (
            self.safety_model.scores([*texts, *chunks], all_vecs) if self.safety_model is not None else [None, None]
        )
        safety = assess(
            text, p_msg, self.sensitive_topics, history, p_win, policy=self.safety_policy,
            model_scores=scores[0], window_model_scores=scores[1] if window is not None else None,
            chunk_scores=tuple(zip(chunks, scores[len(texts) :], strict=True)),
        )
        nlu = NLUResult(
            text=text,
            ranking=ranking,
            entities=self.extractor.extract(text),
            tokens=self.extractor.tokens(text),
            out_of_scope=float(oos[0]),
            safety=safety,
            language=detect_language(text),
        )
        hits = tuple(self.index.search(vecs[0], k=5, tenant=tenant))
        decision = triage(
            nlu, self.contract, hits, self.refs_for(tenant), self.by_topic, self.triage_policy, previous_topic
        )
        return Parsed(nlu, hits, decision)
