"""knowledge/tenants.yaml: the schema, the defaults that keep an old file working, and start-up
errors that name the tenant, the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ROOT
from bot.errors import TenantConfigError, UnknownTenant
from bot.routing import skills
from bot.tenants import Tenants, load_tenants
from bot.topics import TopicContract, load_contract

pytestmark = pytest.mark.unit
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="module")
def contract() -> TopicContract:
    return load_contract(KNOWLEDGE / "topics.yaml")


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _one(**keys: Any) -> dict[str, Any]:
    return {"default_tenant": "roedovre", "tenants": [{"id": "roedovre", "name": "Rødovre Kommune", **keys}]}


def _refused(tmp_path: Path, data: dict[str, Any], contract: TopicContract | None) -> str:
    with pytest.raises(TenantConfigError) as exc:
        load_tenants(_write(tmp_path, data), contract)
    return str(exc.value)


def test_tenants_the_shipped_file_is_valid_and_the_two_municipalities_differ(contract):
    t = load_tenants(KNOWLEDGE / "tenants.yaml", contract)
    kbh, rdv = t.get("kobenhavn"), t.get("rodovre")
    assert kbh.opening_hours() != rdv.opening_hours()
    assert kbh.queues.run is None and rdv.queues.run is not None and "byg_cby" not in rdv.queues.run
    known = contract.queue_by_id
    assert rdv.queue_for("byg_cby", known) == "borgerservice_basis" and kbh.queue_for("byg_cby", known) == "byg_cby"
    assert rdv.queue_for("krise", known) == "krise"  # the crisis queue is not the contract's: it stays
    assert kbh.routing_policy().acw_seconds != rdv.routing_policy().acw_seconds
    assert kbh.routing.offer_timeout_seconds != rdv.routing.offer_timeout_seconds
    assert kbh.promise_hours("borgerservice_basis", 2) != rdv.promise_hours("borgerservice_basis", 2)
    assert kbh.promise_hours("byg_cby", 2) == 8
    assert set(kbh.phone_numbers).isdisjoint(rdv.phone_numbers) and kbh.addresses.isdisjoint(rdv.addresses)
    assert kbh.widget.greeting != rdv.widget.greeting and kbh.widget.allowed_origins != rdv.widget.allowed_origins
    assert rdv.voice.menu and not kbh.voice.menu
    assert t.for_address("KONTAKT@rodovre.example") is rdv and t.by_number["+4533663366"] is kbh


def test_tenants_an_old_file_with_only_id_and_name_keeps_todays_behaviour(tmp_path, contract):
    t = load_tenants(_write(tmp_path, _one()), contract)
    r = t.get("roedovre")
    assert r.routing_policy() == skills.DEFAULT_POLICY
    assert r.routing.offer_timeout_seconds is None
    assert r.promise_hours("byg_cby", 2.0) == 2.0
    assert all(r.runs(q.id) for q in contract.queues) and r.queue_for("byg_cby", contract.queue_by_id) == "byg_cby"
    assert r.reply_address is None and r.widget.allowed_origins == () and r.survey.enabled
    assert t.single is r and t.get(None) is r


def test_tenants_routing_policy_overrides_only_what_is_given():
    t = Tenants.model_validate(_one(routing={"after_contact_work_seconds": 60, "max_chats_per_agent": 2,
                                             "overflow_after_seconds_by_queue": {"byg_cby": None}}))  # fmt: skip
    policy = t.get("roedovre").routing_policy()
    assert policy.acw_seconds == 60 and policy.concurrency[skills.Channel.CHAT] == 2
    assert policy.concurrency[skills.Channel.VOICE] == skills.DEFAULT_POLICY.concurrency[skills.Channel.VOICE]
    assert policy.overflow_threshold("byg_cby") is None
    assert policy.overflow_threshold("borgerservice_basis") == skills.DEFAULT_POLICY.overflow_threshold("x")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"queues": {"run": ["borgerservice_basis"], "fallback": "xyz"}},
         "tenant 'roedovre': queues.fallback 'xyz' is not a queue in knowledge/topics.yaml; use one of omstilling,"),
        ({"queues": {"run": ["borgerservice_basis", "byg_cbyy"], "fallback": "borgerservice_basis"}},
         "tenant 'roedovre': queues.run: 'byg_cbyy' is not a queue in knowledge/topics.yaml"),
        ({"queues": {"run": ["borgerservice_basis"]}},
         "tenant 'roedovre': queues.fallback is missing; topics of queues not run here"),
        ({"queues": {"run": ["borgerservice_basis"], "fallback": "byg_cby"}},
         "tenant 'roedovre': queues.fallback 'byg_cby' is not run by this tenant; add it to queues.run"),
        ({"email_promise": {"by_queue": {"borgerservise_basis": 4}}},
         "tenant 'roedovre': email_promise.by_queue.borgerservise_basis: 'borgerservise_basis' is not a queue"),
        ({"voice": {"menu": [{"key": "1", "queue": "byg", "da": "byg", "en": "building"}]}},
         "tenant 'roedovre': voice.menu key 1: queue 'byg' is not a queue in knowledge/topics.yaml"),
        ({"routing": {"overflow_after_seconds_by_queue": {"nope": 30}}},
         "tenant 'roedovre': routing.overflow_after_seconds_by_queue.nope: 'nope' is not a queue"),
        ({"priorities": {"social": 10}}, "tenant 'roedovre': priorities.social: 'social' is not a queue"),
    ],
)  # fmt: skip
def test_tenants_a_queue_typo_is_refused_naming_tenant_key_and_choices(tmp_path, contract, keys, expected):
    assert expected in _refused(tmp_path, _one(**keys), contract)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"routing": {"offer_timeout": 30}},
         "tenant 'roedovre': unknown key 'routing.offer_timeout'; the keys here are after_contact_work_seconds,"),
        ({"widjet": {}}, "tenant 'roedovre': unknown key 'widjet'; the keys here are"),
        ({"mailboxes": [{"address": "kontakt@rk.dk", "imap": {"host": "imap.rk.dk", "user": "k",
                                                                "password": "hunter2"}}]},
         "tenant 'roedovre': unknown key 'mailboxes.0.imap.password'; the keys here are host, password_env, port"),
        ({"mailboxes": [{"address": "kontakt@rk.dk", "imap": {"host": "imap.rk.dk", "user": "k"}}]},
         "tenant 'roedovre': mailboxes.0.imap.password_env is required"),
        ({"mailboxes": [{"address": "kontakt at rk.dk"}]}, "tenant 'roedovre': mailboxes.0.address: 'kontakt at rk.dk' is not"),
        ({"mailboxes": [{"address": "a@rk.dk", "push_secret_env": "lower-case"}]},
         "tenant 'roedovre': mailboxes.0.push_secret_env: String should match pattern"),
        ({"widget": {"colour": "green"}}, "tenant 'roedovre': widget.colour: String should match pattern"),
        ({"widget": {"allowed_origins": ["https://www.rk.dk/chat"]}},
         "tenant 'roedovre': widget.allowed_origins: 'https://www.rk.dk/chat' is not an origin; write scheme://host"),
        ({"phone_numbers": ["36 37 36 37"]}, "tenant 'roedovre': phone_numbers: '36 37 36 37' is not a number in E.164"),
        ({"routing": {"max_chats_per_agent": 0}}, "tenant 'roedovre': routing.max_chats_per_agent: Input should be"),
        ({"email_promise": {"by_queue": {"byg_cby": 0}}}, "tenant 'roedovre': email_promise.by_queue: by_queue.byg_cby = 0"),
        ({"voice": {"menu": [{"key": "1", "queue": "esb", "english": True, "da": "x", "en": "x"}]}},
         "tenant 'roedovre': voice.menu.0: menu option 1: give either a queue or english: true"),
        ({"survey": {"questions": [{"id": "q1", "da": "Hvor tilfreds?"}]}}, "tenant 'roedovre': survey.questions.0.en is required"),
    ],
)  # fmt: skip
def test_tenants_a_bad_key_or_value_is_refused_naming_tenant_key_and_fix(tmp_path, keys, expected):
    assert expected in _refused(tmp_path, _one(**keys), None)


def test_tenants_no_secret_is_ever_accepted_in_the_file(tmp_path):
    message = _refused(tmp_path, _one(mailboxes=[{"address": "a@rk.dk", "push_secret": "s3cret"}]), None)
    assert "unknown key 'mailboxes.0.push_secret'" in message and "push_secret_env" in message
    assert "s3cret" not in message


def test_tenants_an_address_or_number_of_two_municipalities_is_refused(tmp_path):
    data = {"default_tenant": "a", "tenants": [
        {"id": "a", "name": "A", "phone_numbers": ["+4536373637"], "mailboxes": [{"address": "post@x.dk"}]},
        {"id": "b", "name": "B", "phone_numbers": ["+4536373637"], "email": "POST@x.dk"},
    ]}  # fmt: skip
    message = _refused(tmp_path, data, None)
    assert "phone number '+4536373637' is given by tenants 'a', 'b'" in message
    assert "e-mail address 'post@x.dk' is given by tenants 'a', 'b'" in message


def test_tenants_an_unlisted_default_and_a_nameless_tenant_are_refused(tmp_path):
    assert "default_tenant 'gentofte' is not listed; use one of roedovre" in _refused(
        tmp_path, {**_one(), "default_tenant": "gentofte"}, None)  # fmt: skip
    assert "tenant 'x': name is required" in _refused(
        tmp_path, {"default_tenant": "x", "tenants": [{"id": "x"}]}, None)  # fmt: skip
    assert "tenant number 2: id is required" in _refused(
        tmp_path, {"default_tenant": "x", "tenants": [{"id": "x", "name": "X"}, {"name": "Y"}]}, None)  # fmt: skip
    with pytest.raises(TenantConfigError, match="cannot load tenants from"):
        load_tenants(tmp_path / "missing.yaml")


def test_tenants_a_bad_schedule_names_the_tenant_and_the_key(tmp_path):
    message = _refused(tmp_path, _one(queue_schedules={"byg_cby": {"mon": ["25:00-26:00"]}}), None)
    assert "tenant 'roedovre': queue_schedules.byg_cby:" in message


def test_tenants_an_unknown_tenant_is_refused_by_name():
    t = Tenants.model_validate(_one())
    with pytest.raises(UnknownTenant, match="unknown tenant 'gentofte'"):
        t.get("gentofte")
