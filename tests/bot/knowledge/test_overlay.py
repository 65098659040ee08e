"""Local overlays and the tenant's view (bot/knowledge/overlay.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.knowledge.overlay import (
    LocalContent,
    OverlayError,
    TenantLocal,
    load_local,
    parse_overlay,
    tenant_view,
)
from bot.retrieval.articles import Article, Source
from bot.tenants import load_tenants

pytestmark = pytest.mark.unit

TENANT_IDS = [t.id for t in load_tenants(ROOT / "knowledge" / "tenants.yaml").tenants]


def _domain_pattern(domains: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(d) for d in domains)
    return re.compile(rf"(?<![\w.-])(?:[\w-]+\.)*(?:{alternatives})(?![\w-])", re.IGNORECASE)


def test_every_tenant_in_tenants_yaml_has_local_content(local: LocalContent):
    assert sorted(local.tenants) == sorted(TENANT_IDS)
    for t in local.tenants.values():
        assert t.domains and t.names and t.overlays


@pytest.mark.parametrize("tenant_id", TENANT_IDS)
def test_tenant_view_never_shows_another_tenants_domain_or_name(tenant_id, national, local):
    others = [t for tid, t in local.tenants.items() if tid != tenant_id]
    domains = _domain_pattern(tuple(d for t in others for d in t.domains))
    names = [n for t in others for n in t.names]
    view = tenant_view(national, local, tenant_id)
    assert view, "a tenant's view is never empty"
    for article in view:
        text = article.model_dump_json()
        assert not domains.search(text), f"{tenant_id}: {article.id} shows {domains.search(text).group(0)}"
        for name in names:
            assert name not in text, f"{tenant_id}: {article.id} names {name}"


@pytest.mark.parametrize("tenant_id", TENANT_IDS)
def test_tenant_view_is_the_article_type_retrieval_loads(tenant_id, national, local):
    view = tenant_view(national, local, tenant_id)
    assert all(type(a) is Article for a in view)
    assert [a.id for a in view] == [a.id for a in national if a.tenant in ("*", tenant_id)]
    for a in view:
        Article.model_validate(a.model_dump())  # still valid under the retrieval's own rules
        assert a.ref().source  # cites a source the widget can show


def test_overlay_applies_to_its_own_tenant_only(national, local):
    kbh = {a.id: a for a in tenant_view(national, local, "kobenhavn")}
    rod = {a.id: a for a in tenant_view(national, local, "rodovre")}
    assert "Nem Affaldsservice" in kbh["affald_toemning"].body
    assert "Nem Affaldsservice" not in rod["affald_toemning"].body
    assert "36 37 70 00" in rod["boern_pladsanvisning"].body
    assert "36 37 70 00" not in kbh["boern_pladsanvisning"].body
    assert kbh["boern_pladsanvisning"].selfservice.url.startswith("https://www.kk.dk/")
    assert rod["boern_pladsanvisning"].selfservice.url.startswith("https://www.rk.dk/")


def test_local_sources_come_first_so_the_article_cites_the_municipality(national, local):
    rod = {a.id: a for a in tenant_view(national, local, "rodovre")}
    assert rod["byggeri_byggeansoegning"].ref().source_url.startswith("https://www.rk.dk/")


def test_a_local_section_replaces_the_national_section_of_the_same_name(national, local):
    kbh = {a.id: a for a in tenant_view(national, local, "kobenhavn")}
    body = kbh["affald_toemning"].body
    assert body.count("**Ikke tømt?**") == 1
    nat = next(a for a in national if a.id == "affald_toemning")
    assert "**Sortering**" in body and nat.body.split("**Sortering**")[1].split("**")[0].strip() in body


def test_another_tenants_self_service_link_is_dropped_not_shown(national, local):
    nat = next(a for a in national if a.id == "affald_storskrald")
    assert "kk.dk" in (nat.selfservice.url or "")
    rod = {a.id: a for a in tenant_view(national, local, "rodovre")}
    assert rod["affald_storskrald"].selfservice is None  # Rødovre has no overlay for it (yet)


def test_view_reviewed_date_is_the_older_of_national_and_local(national, local):
    nat = next(a for a in national if a.id == "borgerservice_pas")
    kbh = {a.id: a for a in tenant_view(national, local, "kobenhavn")}
    assert kbh["borgerservice_pas"].reviewed == min(nat.reviewed, dt.date(2026, 12, 6))


def test_tenant_view_is_pure(national, local):
    before = [a.model_dump() for a in national]
    assert tenant_view(national, local, "rodovre") == tenant_view(national, local, "rodovre")
    assert [a.model_dump() for a in national] == before


# --- small, made-up cases ----------------------------------------------------------------------


def _article(**kw) -> Article:
    base = dict(
        id="affald_toemning", topic="affald_toemning", title="Hvornår bliver mit affald hentet?",
        owner="TMF", voice="Se din tømmekalender på kommunens hjemmeside.",
        sources=(Source(title="Affald (borger.dk)", url="https://www.borger.dk/affald"),),
        reviewed=dt.date(2026, 1, 1), body="**Ikke tømt?**\n\nKontakt kommunen.",
    )
    return Article.model_validate({**base, **kw})


def _content(*tenants: TenantLocal) -> LocalContent:
    return LocalContent({t.tenant: t for t in tenants})


def test_domain_match_is_on_whole_domain_labels():
    art = _article(body="Søg på virk.dk eller www.rksk.dk. Se også affald.rk.dk for dit affald.")
    view = tenant_view([art], _content(TenantLocal("rodovre", ("Rødovre Kommune",), ("rk.dk",)),
                                       TenantLocal("kobenhavn", ("Københavns Kommune",), ("kk.dk",))), "kobenhavn")
    assert view[0].body == "Søg på virk.dk eller www.rksk.dk."


def test_a_sentence_naming_another_tenant_goes_and_the_rest_stays():
    art = _article(body="Priser varierer. I Københavns Kommune søger du på parkering.kk.dk. Tjek din kommune.\n"
                        "- I Københavns Kommune er det anderledes.\n- Spørg Borgerservice.")
    content = _content(TenantLocal("kobenhavn", ("Københavns Kommune",), ("kk.dk",)))
    body = tenant_view([art], content, "rodovre")[0].body
    assert body == "Priser varierer. Tjek din kommune.\n- Spørg Borgerservice."
    assert tenant_view([art], content, "kobenhavn")[0].body == art.body  # its own text is kept


def test_an_article_of_another_tenant_is_not_in_the_view():
    mine, theirs = _article(id="a", tenant="rodovre"), _article(id="b", tenant="kobenhavn")
    content = _content(TenantLocal("kobenhavn", ("Københavns Kommune",), ("kk.dk",)))
    assert [a.id for a in tenant_view([mine, theirs, _article(id="c")], content, "rodovre")] == ["a", "c"]


OVERLAY = """---
tenant: rodovre
overrides: affald_toemning
sections: [links, pickup]
owner: Rødovre Kommune – affald
reviewed: 2026-12-06
review_interval_days: 90
selfservice:
  name: Tømmekalender
  url: https://www.rk.dk/affald
sources:
  - title: Affald (Rødovre Kommune)
    url: https://www.rk.dk/affald
---
## Ikke tømt?

Ring til kommunen.
"""


def _write_tenant(root: Path, tenant: str = "rodovre", overlay: str = OVERLAY, name: str = "affald_toemning.md") -> Path:
    folder = root / tenant
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tenant.yaml").write_text("names: [Rødovre Kommune]\ndomains: [rk.dk]\n", encoding="utf-8")
    path = folder / name
    path.write_text(overlay, encoding="utf-8")
    return path


def test_a_valid_overlay_loads_and_is_applied(tmp_path):
    _write_tenant(tmp_path)
    content = load_local(tmp_path, [_article()], known_tenants=["rodovre", "kobenhavn"])
    art = tenant_view([_article()], content, "rodovre")[0]
    assert art.body == "**Ikke tømt?**\n\nRing til kommunen."
    assert art.selfservice.url == "https://www.rk.dk/affald"
    assert [s.url for s in art.sources] == ["https://www.rk.dk/affald", "https://www.borger.dk/affald"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("tenant: rodovre", "tenant: kobenhavn"), "tenant"),
        (("overrides: affald_toemning", "overrides: findes_ikke"), "overrides"),
        (("sections: [links, pickup]", "sections: [links, pickup, fees]"), "sections"),
        (("sections: [links, pickup]", "sections: [pickup]"), "sections"),
        (("sections: [links, pickup]", "sections: [links, pickup, nonsense]"), "sections.2"),
        (("reviewed: 2026-12-06\n", ""), "reviewed"),
        (("review_interval_days: 90", "review_interval_days: 0"), "review_interval_days"),
        (("    url: https://www.rk.dk/affald\n---", "---"), "sources"),
        (("Ring til kommunen.", ""), "sections.pickup"),
    ],
)
def test_a_bad_overlay_is_refused_naming_tenant_file_and_key(tmp_path, change, key):
    path = _write_tenant(tmp_path, overlay=OVERLAY.replace(*change))
    with pytest.raises(OverlayError) as err:
        load_local(tmp_path, [_article()])
    msg = str(err.value)
    assert "'rodovre'" in msg and str(path) in msg and f"key {key!r}" in msg, msg


def test_a_file_named_after_another_article_is_refused(tmp_path):
    _write_tenant(tmp_path, name="borgerservice_pas.md")
    with pytest.raises(OverlayError, match="overrides"):
        load_local(tmp_path, [_article()])


def test_a_tenant_folder_not_in_tenants_yaml_is_refused(tmp_path):
    _write_tenant(tmp_path, tenant="ballerup", overlay=OVERLAY.replace("tenant: rodovre", "tenant: ballerup"))
    with pytest.raises(OverlayError, match="'ballerup'.*not in knowledge/tenants.yaml"):
        load_local(tmp_path, [_article()], known_tenants=["rodovre"])


def test_a_tenant_without_tenant_yaml_is_refused(tmp_path):
    (tmp_path / "rodovre").mkdir()
    with pytest.raises(OverlayError, match="tenant.yaml.*missing"):
        load_local(tmp_path, [_article()])


def test_parse_overlay_refuses_text_without_front_matter():
    with pytest.raises(OverlayError, match="'---'"):
        parse_overlay("## Ikke tømt?\n\nRing.", tenant="rodovre", where="x.md")


def test_a_voice_line_that_only_names_another_tenant_is_an_error_not_a_leak():
    from bot.knowledge.overlay import TenantViewError

    art = _article(voice="I Københavns Kommune ringer du til Borgerservice.")
    content = _content(TenantLocal("kobenhavn", ("Københavns Kommune",), ("kk.dk",)))
    with pytest.raises(TenantViewError, match="affald_toemning"):
        tenant_view([art], content, "rodovre")
