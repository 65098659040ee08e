"""The data contract between knowledge/topics.yaml, nlu_data/, knowledge/articles/ and the dev
set in eval/data/dev.yml. Every problem fails: where Rasa warns and skips, we fail."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from bot.errors import TrainingDataError
from bot.nlu import training_data as td
from bot.retrieval.articles import Article, parse_article
from bot.safety_model import ACUTE, CORPUS_SUFFIX, NONE, SENSITIVE, load_corpus, sensitive_handoff_topics
from bot.topics import OUT_OF_SCOPE, Handling, load_contract
from bot.train import MIN_EXAMPLES, SAFETY_CORPUS_DIR, check_training_data
from eval.dataset import DEV_SET, load_dev_set

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
NLU_DATA = ROOT / "nlu_data"
ARTICLES = ROOT / "knowledge" / "articles"
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")
TOPIC_IDS = [t.id for t in CONTRACT.topics]

SAFETY_CORPUS = NLU_DATA / SAFETY_CORPUS_DIR
# The safety corpus has its own format (nlu_data/safety/README.md) and is checked below.
NLU_FILES = sorted(
    p for p in NLU_DATA.rglob("*")
    if p.is_file() and p.name != "README.md" and SAFETY_CORPUS not in p.parents
)
ARTICLE_FILES = sorted(p for p in ARTICLES.rglob("*.md") if p.name.lower() != "readme.md")

BIG_TOPICS = [
    "affald_toemning",
    "affald_storskrald",
    "borgerservice_flytning",
    "borgerservice_pas",
    "sundhed_sundhedskort",
    "boligstoette_boligstoette",
    "pension_folkepension",
    "boern_pladsanvisning",
    "vej_byliv_parkeringslicens",
    "vej_byliv_parkeringsafgift",
    "byggeri_byggeansoegning",
    "byggeri_regler",
    "beskaeftigelse_jobcenter",
]
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|\bwww\.|\b[\w-]+\.[a-z]{2,}/\S")


def normalise(text: str) -> str:
    """Case- and punctuation-insensitive form; a text of punctuation only keeps its symbols."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    bare = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(bare.split()) or "".join(folded.split())


@pytest.fixture(scope="module")
def data() -> td.TrainingData:
    return td.load_dir(NLU_DATA)


# --- nlu_data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NLU_FILES, ids=lambda p: str(p.relative_to(NLU_DATA)))
def test_contract_every_nlu_file_loads(path: Path) -> None:
    assert path.suffix == ".yml", f"{path}: only Rasa YAML (.yml) files belong in nlu_data/"
    loaded = td.load(path)
    if path.parent.name == "entities":
        assert not loaded.examples, f"{path}: entities/ holds synonym, regex and lookup blocks only"
    else:
        # one file per topic: nlu_data/<domain>/<topic_id>.yml
        assert loaded.intents == [path.stem]
        assert CONTRACT.topic(path.stem).domain == path.parent.name


def test_contract_training_data_passes_check(data: td.TrainingData) -> None:
    check_training_data(data, CONTRACT)


def test_contract_every_intent_is_a_topic(data: td.TrainingData) -> None:
    assert set(data.intents) <= set(TOPIC_IDS)


@pytest.mark.parametrize("topic", TOPIC_IDS)
def test_contract_topic_has_enough_examples(data: td.TrainingData, topic: str) -> None:
    n = len(data.by_intent().get(topic, ()))
    if topic == OUT_OF_SCOPE:
        minimum = 200
    elif topic in BIG_TOPICS:
        minimum = 50
    else:
        minimum = MIN_EXAMPLES
    assert n >= minimum, f"{topic} has {n} examples, needs {minimum}"


def test_contract_big_topics_exist() -> None:
    assert set(BIG_TOPICS) <= set(TOPIC_IDS)


def test_contract_no_example_under_two_intents(data: td.TrainingData) -> None:
    intents: dict[str, set[str]] = defaultdict(set)
    for ex in data.examples:
        intents[normalise(ex.text)].add(ex.intent)
    clashes = {text: sorted(i) for text, i in intents.items() if len(i) > 1}
    assert clashes == {}


@pytest.mark.parametrize(
    ("a", "b"),
    [("Hvornår kommer skraldebilen?", "hvornår kommer skraldebilen"), ("Nej, tak!", "nej tak"), ("HEJ  :)", "hej")],
)
def test_contract_normalise_ignores_case_and_punctuation(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(("a", "b"), [("?", "..."), ("👍", "👎"), ("tak 🙏", "tak"), ("boligstøtte", "boligstotte")])
def test_contract_normalise_keeps_what_carries_meaning(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


# --- nlu_data/safety: the safety classifier's corpus ---------------------------------------


@pytest.fixture(scope="module")
def safety_corpus():
    return load_corpus(SAFETY_CORPUS, sensitive_handoff_topics(CONTRACT))


def test_contract_safety_corpus_files_are_safety_files() -> None:
    files = [p for p in SAFETY_CORPUS.rglob("*") if p.is_file() and p.name != "README.md"]
    assert files and all(p.suffix == CORPUS_SUFFIX for p in files)


def test_contract_safety_corpus_covers_many_kinds_of_emergency(safety_corpus) -> None:
    kinds: dict[str, int] = defaultdict(int)
    for ex in safety_corpus:
        if ex.label == ACUTE:
            kinds[ex.kind] += 1
    assert len(kinds) >= 25, sorted(kinds)
    assert sum(kinds.values()) >= 400
    thin = {k: n for k, n in kinds.items() if n < 4}
    assert thin == {}


def test_contract_safety_corpus_covers_every_sensitive_topic(safety_corpus) -> None:
    covered = {ex.topic for ex in safety_corpus if ex.label == SENSITIVE}
    assert covered == set(sensitive_handoff_topics(CONTRACT))


def test_contract_safety_corpus_has_harmless_look_alikes(safety_corpus) -> None:
    harmless = [ex for ex in safety_corpus if ex.label == NONE]
    assert len(harmless) >= 150
    assert len({ex.kind for ex in harmless}) >= 6


@pytest.mark.parametrize(
    "kind",
    [
        # acute danger told indirectly
        "medicin_indtaget", "lavt_blodsukker", "vold_nu_vidne", "slagtilfaelde_spoergende",
        "fare_midt_i_skrivelse", "english_acute",
        # harmless neighbours: idioms, past events, equipment upkeep, recurring nuisances, errands
        "talemaade", "fortid_med_spoergsmaal", "udstyr_vedligehold", "gene_tilbagevendende",
        "hjaelp_til_paaroerende",
    ],
)
def test_contract_safety_corpus_covers_indirect_danger_and_its_look_alikes(safety_corpus, kind: str) -> None:
    examples = [ex for ex in safety_corpus if ex.kind == kind]
    assert len(examples) >= 5, kind
    assert len({ex.text.split()[0].lower() for ex in examples}) >= 3, f"{kind}: vary how the examples begin"


def test_contract_safety_corpus_text_has_one_label(safety_corpus) -> None:
    labels: dict[str, set[str]] = defaultdict(set)
    for ex in safety_corpus:
        labels[normalise(ex.text)].add(ex.label)
    assert {t: sorted(ls) for t, ls in labels.items() if len(ls) > 1} == {}


def test_contract_safety_corpus_agrees_with_topic_data(safety_corpus, data: td.TrainingData) -> None:
    """A text in both places means the same: acute only as the emergency topic, sensitive only as a
    sensitive topic."""
    by_text = {normalise(e.text): e.intent for e in data.examples}
    sensitive = set(sensitive_handoff_topics(CONTRACT))
    clashes = []
    for ex in safety_corpus:
        intent = by_text.get(normalise(ex.text))
        if intent is None:
            continue
        expected = ACUTE if intent == "dialog_noedsituation" else SENSITIVE if intent in sensitive else NONE
        if expected != ex.label:
            clashes.append((ex.text, ex.label, intent))
    assert clashes == []


def test_contract_safety_corpus_is_not_copied_from_the_dev_set(safety_corpus, dev) -> None:
    dev_texts = {normalise(c.text) for c in dev.cases}
    assert [ex.text for ex in safety_corpus if normalise(ex.text) in dev_texts] == []


# --- check_training_data itself ------------------------------------------------------------


def _examples(intent: str, n: int) -> list[td.Example]:
    return [td.Example(intent, f"eksempel {i}") for i in range(n)]


def test_contract_check_rejects_unknown_intent(data: td.TrainingData) -> None:
    broken = td.TrainingData([*data.examples, *_examples("affald_findes_ikke", 30)])
    with pytest.raises(TrainingDataError, match="affald_findes_ikke"):
        check_training_data(broken, CONTRACT)


def test_contract_check_rejects_thin_topic(data: td.TrainingData) -> None:
    kept = [e for e in data.examples if e.intent != "kultur_legater"]
    broken = td.TrainingData([*kept, *_examples("kultur_legater", MIN_EXAMPLES - 1)])
    with pytest.raises(TrainingDataError, match="kultur_legater"):
        check_training_data(broken, CONTRACT)
    check_training_data(td.TrainingData([*kept, *_examples("kultur_legater", MIN_EXAMPLES)]), CONTRACT)


# --- knowledge/articles ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def articles() -> dict[Path, Article]:
    return {p: parse_article(p.read_text(encoding="utf-8"), str(p)) for p in ARTICLE_FILES}


@pytest.mark.parametrize(
    "topic",
    [t.id for t in CONTRACT.topics if t.handling in (Handling.ANSWER, Handling.SELFSERVICE)],
)
def test_contract_answer_topic_has_shared_article(articles: dict[Path, Article], topic: str) -> None:
    assert any(a.topic == topic and a.tenant == "*" for a in articles.values())


def test_contract_article_ids_unique(articles: dict[Path, Article]) -> None:
    ids = [a.id for a in articles.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.stem)
def test_contract_article(path: Path) -> None:
    art = parse_article(path.read_text(encoding="utf-8"), str(path))
    topic = CONTRACT.topic(art.topic)
    assert topic.handling in (Handling.ANSWER, Handling.SELFSERVICE), f"{art.id}: topic {topic.id} is {topic.handling}"
    assert path.stem == art.id
    assert path.stem.split("--")[0] == art.topic
    assert art.sources and all(s.title.strip() for s in art.sources)
    assert art.reviewed <= dt.date.today()
    assert art.voice.strip()
    assert _URL.search(art.voice) is None, f"{art.id}: voice text contains a URL: {art.voice!r}"


@pytest.mark.parametrize(
    ("voice", "has_url"),
    [
        ("Se mere på https://www.borger.dk/pas", True),
        ("Gå ind på www.kk.dk og søg", True),
        ("Søg på borger.dk/boligstoette", True),
        ("Du søger på borger.dk med MitID.", False),
        ("Ring til Borgerservice.", False),
    ],
)
def test_contract_url_pattern(voice: str, has_url: bool) -> None:
    assert (_URL.search(voice) is not None) is has_url


# --- eval/data/dev.yml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev():
    return load_dev_set(DEV_SET)


def test_contract_dev_set_size(dev) -> None:
    assert len(dev.cases) >= 300


def test_contract_dev_set_uses_known_topics(dev) -> None:
    assert {c.topic for c in dev.cases} - set(TOPIC_IDS) == set()
    assert {c.topic for c in dev.conversations} - set(TOPIC_IDS) == set()
