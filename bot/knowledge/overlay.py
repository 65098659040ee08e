"""Local overlays: a municipality's own facts on top of the national articles.

The national articles (`knowledge/articles/`) say what holds everywhere. A tenant's overlay
(`knowledge/local/<tenant>/<article-id>.md`, format in `knowledge/local/README.md`) adds or
replaces the parts that differ: the self-service link, local fees, opening hours, pickup rules,
phone numbers. `tenant_view` builds what one municipality's citizens get, as the same `Article`
type the retrieval loads, and never hands one municipality's pages to another's citizens:
another tenant's domains and name are taken out of every national article in the view.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import KontaktError
from bot.retrieval.articles import Article, SelfService, Source
from bot.yaml_safe import safe_load

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^##[ \t]+(?P<title>\S.*?)[ \t]*$", re.MULTILINE)
_BOLD_HEADING = re.compile(r"^\*\*(?P<title>[^*\n]+)\*\*[ \t]*$")
# A sentence ends with . ! or ? followed by space and something that starts a new sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"“*(])")
_LIST_PREFIX = re.compile(r"^(\s*(?:[-*+]|\d+\.)\s+)")
TENANT_FILE = "tenant.yaml"


class OverlayError(KontaktError):
    """A local overlay or a tenant's local settings are malformed. The message names the
    tenant, the file and the key."""

    def __init__(self, tenant: str, path: object, key: str, problem: str) -> None:
        super().__init__(
            f"{path}: tenant {tenant!r}, key {key!r}: {problem}. See knowledge/local/README.md for the format."
        )
        self.tenant = tenant
        self.path = path
        self.key = key
        self.problem = problem


class TenantViewError(KontaktError):
    """A tenant's view of an article cannot be built (say, every source is another tenant's)."""


class Section(StrEnum):
    """What an overlay replaces or adds. `links` and `voice` replace front-matter fields of the
    national article; every other key is a `## ` section of the overlay's body."""

    LINKS = "links"  # the self-service link (overlay front matter `selfservice`)
    VOICE = "voice"  # what the voice bot says (overlay front matter `voice`)
    HOURS = "hours"
    CONTACT = "contact"
    FEES = "fees"
    RULES = "rules"
    PICKUP = "pickup"
    HOWTO = "howto"
    DEADLINES = "deadlines"


FIELD_SECTIONS = frozenset({Section.LINKS, Section.VOICE})


class LocalOverlay(BaseModel):
    """One overlay file, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    overrides: str = Field(pattern=r"^[a-z0-9_\-]+$")
    sections: tuple[Section, ...] = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    reviewed: dt.date
    review_interval_days: int | None = Field(default=None, gt=0, le=3650)  # else the owner's default
    owner: str  # an owner id of knowledge/owners.yaml
    selfservice: SelfService | None = None
    voice: str | None = None
    questions: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    body: str = ""
    path: str = ""  # where it was read from, for messages and the stale report

    @field_validator("sources")
    @classmethod
    def _sources_have_urls(cls, v: tuple[Source, ...]) -> tuple[Source, ...]:
        for s in v:
            if not s.url or not s.url.startswith(("https://", "http://")):
                raise ValueError(f"every local source needs the address of the page (http:// or https://) (got {s.url!r} for {s.title!r})")
        return v

    def body_sections(self) -> list[tuple[Section, str, str]]:
        """(key, heading, text) of each `## ` section of the body, in order."""
        keys = [s for s in self.sections if s not in FIELD_SECTIONS]
        matches = list(_HEADING.finditer(self.body))
        out = []
        for key, m, nxt in zip(keys, matches, [*matches[1:], None], strict=False):
            end = nxt.start() if nxt is not None else len(self.body)
            out.append((key, m.group("title"), self.body[m.end() : end].strip()))
        return out


@dataclass(frozen=True, slots=True)
class TenantLocal:
    """A tenant's local content: its own domains and names, and its overlays."""

    tenant: str
    names: tuple[str, ...]
    domains: tuple[str, ...]
    overlays: tuple[LocalOverlay, ...] = ()

    def overlay_for(self, article_id: str) -> LocalOverlay | None:
        return next((o for o in self.overlays if o.overrides == article_id), None)


@dataclass(frozen=True, slots=True)
class LocalContent:
    """Every tenant's local content, by tenant id."""

    tenants: Mapping[str, TenantLocal]

    def overlays(self, tenant_id: str | None = None) -> list[LocalOverlay]:
        return [o for t in self.tenants.values() if tenant_id in (None, t.tenant) for o in t.overlays]


# --- loading ----------------------------------------------------------------------------------------


def parse_overlay(text: str, *, tenant: str, where: str = "<string>") -> LocalOverlay:
    """One overlay file's text to a validated `LocalOverlay`; errors name tenant, file and key."""
    m = _FRONT_MATTER.match(text)
    if m is None:
        raise OverlayError(tenant, where, "---", "must start with a '---' line, YAML front matter and another '---' line")
    try:
        meta = safe_load(m.group(1))
    except yaml.YAMLError as exc:
        raise OverlayError(tenant, where, "front matter", f"not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise OverlayError(tenant, where, "front matter", "must be a mapping")
    try:
        overlay = LocalOverlay.model_validate({**meta, "body": text[m.end() :].strip(), "path": where})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "front matter"
        raise OverlayError(tenant, where, key, str(first["msg"]).removeprefix("Value error, ")) from None
    if overlay.tenant != tenant:
        raise OverlayError(tenant, where, "tenant", f"says {overlay.tenant!r} but the file lies in {tenant!r}'s folder")
    _check_sections(overlay, where)
    return overlay


def _check_sections(o: LocalOverlay, where: str) -> None:
    if len(set(o.sections)) != len(o.sections):
        raise OverlayError(o.tenant, where, "sections", "lists a section twice")
    if Section.LINKS in o.sections and o.selfservice is None:
        raise OverlayError(o.tenant, where, "selfservice", "section 'links' needs a `selfservice` block")
    if Section.LINKS not in o.sections and o.selfservice is not None:
        raise OverlayError(o.tenant, where, "sections", "has a `selfservice` block but does not list 'links'")
    if Section.VOICE in o.sections and not (o.voice or "").strip():
        raise OverlayError(o.tenant, where, "voice", "section 'voice' needs a non-empty `voice`")
    if Section.VOICE not in o.sections and o.voice is not None:
        raise OverlayError(o.tenant, where, "sections", "has `voice` but does not list 'voice'")
    keys = [s.value for s in o.sections if s not in FIELD_SECTIONS]
    headings = [h.group("title") for h in _HEADING.finditer(o.body)]
    if len(keys) != len(headings):
        raise OverlayError(
            o.tenant, where, "sections",
            f"lists body sections {keys} but the body has {len(headings)} '## ' headings {headings}; "
            "write one '## ' section per body key, in the same order",
        )
    for key, heading, text in o.body_sections():
        if not text:
            raise OverlayError(o.tenant, where, f"sections.{key.value}", f"the section '## {heading}' is empty")
    if o.body and not o.body.lstrip().startswith("##"):
        raise OverlayError(o.tenant, where, "body", "text before the first '## ' heading belongs to no section")


def _read_tenant_file(tenant: str, path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        meta = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OverlayError(tenant, path, TENANT_FILE, f"cannot read: {exc}") from None
    if not isinstance(meta, dict) or set(meta) - {"names", "domains"}:
        raise OverlayError(tenant, path, TENANT_FILE, "must be a mapping with `names` and `domains` only")
    out = []
    for key in ("names", "domains"):
        values = meta.get(key)
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise OverlayError(tenant, path, key, "must be a non-empty list of strings")
        out.append(tuple(v.strip() for v in values))
    for d in out[1]:
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d):
            raise OverlayError(tenant, path, "domains", f"{d!r} is not a bare domain like kk.dk")
    return out[0], out[1]


def load_local(
    root: Path, national: Sequence[Article], known_tenants: Iterable[str] | None = None
) -> LocalContent:
    """Read every tenant folder under root (`knowledge/local/`): its `tenant.yaml` (names and
    domains) and its overlays, each checked against the national articles it overrides."""
    by_id = {a.id: a for a in national}
    known = set(known_tenants) if known_tenants is not None else None
    tenants: dict[str, TenantLocal] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        tenant = folder.name
        if known is not None and tenant not in known:
            raise OverlayError(tenant, folder, "tenant", f"is not in knowledge/tenants.yaml (known: {sorted(known)})")
        tenant_file = folder / TENANT_FILE
        if not tenant_file.is_file():
            raise OverlayError(tenant, tenant_file, TENANT_FILE, "is missing; it lists the tenant's names and domains")
        names, domains = _read_tenant_file(tenant, tenant_file)
        overlays: list[LocalOverlay] = []
        for path in sorted(folder.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            o = parse_overlay(path.read_text(encoding="utf-8"), tenant=tenant, where=str(path))
            if path.stem != o.overrides:
                raise OverlayError(tenant, path, "overrides", f"is {o.overrides!r}; name the file {o.overrides}.md")
            base = by_id.get(o.overrides)
            if base is None:
                raise OverlayError(tenant, path, "overrides", f"no national article {o.overrides!r} in knowledge/articles/")
            if base.tenant not in ("*", tenant):
                raise OverlayError(tenant, path, "overrides", f"{o.overrides!r} belongs to tenant {base.tenant!r}")
            overlays.append(o)
        tenants[tenant] = TenantLocal(tenant, names, domains, tuple(overlays))
    return LocalContent(tenants)


# --- the tenant's view -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Foreign:
    """What must not reach a tenant's citizens as their own: other tenants' domains and names."""

    names: tuple[str, ...]
    domain_re: re.Pattern[str]

    @classmethod
    def of(cls, domains: Iterable[str], names: Iterable[str]) -> _Foreign:
        alternatives = "|".join(re.escape(d) for d in domains)
        # a domain and its subdomains (affald.kk.dk), never a longer name ending alike (virk.dk)
        pattern = rf"(?<![\w.-])(?:[\w-]+\.)*(?:{alternatives})(?![\w-])" if alternatives else r"(?!x)x"
        return cls(tuple(names), re.compile(pattern, re.IGNORECASE))

    def named_in(self, text: str | None) -> bool:
        if not text:
            return False
        return bool(self.domain_re.search(text)) or any(n in text for n in self.names)

    def prune(self, text: str) -> str:
        """Text without the sentences that name another tenant; lines left empty go too."""
        lines = []
        for line in text.splitlines():
            if not self.named_in(line):
                lines.append(line)
                continue
            prefix_m = _LIST_PREFIX.match(line)
            prefix = prefix_m.group(1) if prefix_m else ""
            kept = [s for s in _SENTENCE_END.split(line[len(prefix) :]) if not self.named_in(s)]
            if kept:
                lines.append(prefix + " ".join(kept))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _foreign_for(local: LocalContent, tenant_id: str) -> _Foreign:
    others = [t for tid, t in local.tenants.items() if tid != tenant_id]
    return _Foreign.of(
        domains=[d for t in others for d in t.domains],
        names=[n for t in others for n in t.names],
    )


def _blocks(body: str) -> list[tuple[str | None, str]]:
    """The national body as (bold heading or None, text) blocks."""
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in body.splitlines():
        m = _BOLD_HEADING.match(line.strip())
        if m:
            blocks.append((m.group("title").strip(), []))
        else:
            blocks[-1][1].append(line)
    return [(h, "\n".join(lines).strip()) for h, lines in blocks if h is not None or "\n".join(lines).strip()]


def _merge_body(national: str, overlay: LocalOverlay | None) -> str:
    if overlay is None or not overlay.body_sections():
        return national
    blocks = _blocks(national)
    for _key, heading, text in overlay.body_sections():
        for i, (h, _) in enumerate(blocks):
            if h is not None and h.casefold() == heading.casefold():
                blocks[i] = (h, text)  # the local section replaces the national one of that name
                break
        else:
            blocks.append((heading, text))
    parts = [f"**{h}**\n\n{t}" if h is not None else t for h, t in blocks]
    return "\n\n".join(p for p in parts if p.strip())


def _unique_sources(sources: Iterable[Source]) -> tuple[Source, ...]:
    seen: set[str] = set()
    out = []
    for s in sources:
        key = s.url or s.title
        if key not in seen:
            seen.add(key)
            out.append(s)
    return tuple(out)


def view_article(article: Article, overlay: LocalOverlay | None, foreign: _Foreign) -> Article:
    """One article as one tenant sees it: the overlay's sections in, other tenants out."""
    sections = set(overlay.sections) if overlay else set()
    selfservice = overlay.selfservice if overlay and Section.LINKS in sections else article.selfservice
    if selfservice is not None and (
        foreign.named_in(selfservice.name) or foreign.named_in(selfservice.url)
        or any(foreign.named_in(s) for s in selfservice.steps)
    ):
        selfservice = None  # another municipality's page is never this citizen's self-service
    voice = overlay.voice if overlay and Section.VOICE in sections and overlay.voice else article.voice
    voice = foreign.prune(voice)
    if not voice:
        raise TenantViewError(
            f"article {article.id!r}: what the voice bot says only names another municipality; "
            "write a national voice line or a local overlay with section 'voice'"
        )
    local_sources = overlay.sources if overlay else ()
    national_sources = [s for s in article.sources if not (foreign.named_in(s.title) or foreign.named_in(s.url))]
    sources = _unique_sources([*local_sources, *national_sources])
    if not sources:
        raise TenantViewError(
            f"article {article.id!r}: every source names another municipality; "
            "add a national source or a local overlay with its own sources"
        )
    body = foreign.prune(_merge_body(article.body, overlay))
    reviewed = min(article.reviewed, overlay.reviewed) if overlay else article.reviewed
    questions = [q for q in article.questions if not foreign.named_in(q)]
    synonyms = [s for s in article.synonyms if not foreign.named_in(s)]
    if overlay:
        questions += [q for q in overlay.questions if q not in questions]
        synonyms += [s for s in overlay.synonyms if s not in synonyms]
    return article.model_copy(
        update={
            "selfservice": selfservice,
            "voice": voice,
            "sources": sources,
            "body": body,
            "reviewed": reviewed,
            "questions": tuple(questions),
            "synonyms": tuple(synonyms),
        }
    )


def tenant_view(national: Sequence[Article], overlays: LocalContent, tenant_id: str) -> list[Article]:
    """The articles one tenant's citizens get: national articles for everyone and for this
    tenant, each completed or overridden by this tenant's overlay, with every other tenant's
    domains and name taken out. Pure: the same input gives the same output."""
    foreign = _foreign_for(overlays, tenant_id)
    mine = overlays.tenants.get(tenant_id)
    out = []
    for article in national:
        if article.tenant not in ("*", tenant_id):
            continue
        overlay = mine.overlay_for(article.id) if mine else None
        out.append(view_article(article, overlay, foreign))
    return out
