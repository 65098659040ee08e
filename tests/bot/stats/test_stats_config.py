"""The KPI configuration file: defaults, rules per queue and channel, clear errors, re-reading."""

from __future__ import annotations

import pytest

from bot.routing.skills import Channel
from bot.stats.config import KpiConfig, KpiConfigFile, load_kpi_config
from bot.stats.errors import KpiConfigError

pytestmark = pytest.mark.unit


def test_without_a_file_every_default_applies(tmp_path):
    config = load_kpi_config(tmp_path / "missing.yaml")
    policy = config.for_tenant("kobenhavn").policy()
    t = policy.thresholds("borgerservice_basis", Channel.VOICE)
    assert (t.service_level_seconds, t.short_abandon_seconds) == (20.0, 5.0)
    assert config.for_tenant("kobenhavn").service_level_target == 0.8


def test_rules_become_the_policy_most_specific_first(tmp_path):
    path = tmp_path / "kpi.yaml"
    path.write_text(
        "tenants:\n  kobenhavn:\n    thresholds: {service_level_seconds: 25}\n    rules:\n"
        "      - {channel: chat, service_level_seconds: 60}\n"
        "      - {queue: esb, channel: chat, service_level_seconds: 90, short_abandon_seconds: 10}\n",
        encoding="utf-8",
    )
    kpi = load_kpi_config(path).for_tenant("kobenhavn")
    policy = kpi.policy()
    assert policy.thresholds("borgerservice_basis", Channel.VOICE).service_level_seconds == 25
    assert policy.thresholds("borgerservice_basis", Channel.CHAT).service_level_seconds == 60
    esb_chat = policy.thresholds("esb", Channel.CHAT)
    assert (esb_chat.service_level_seconds, esb_chat.short_abandon_seconds) == (90, 10)
    assert load_kpi_config(path).for_tenant("rodovre") == KpiConfig().default


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("default:\n  thresholds: {service_level_seconds: -1}\n", "default.thresholds.service_level_seconds"),
        ("default:\n  rules: [{channel: fax}]\n", "default.rules.0.channel"),
        ("default:\n  wallboard: {waiting: many}\n", "default.wallboard.waiting"),
        ("default:\n  target: 0.8\n", "default.target"),
        ("default: [\n", "not valid YAML"),
    ],
)
def test_a_bad_value_is_refused_naming_it(tmp_path, text, named):
    path = tmp_path / "kpi.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KpiConfigError, match=named.replace(".", r"\.")):
        load_kpi_config(path)


def test_the_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "kpi.yaml"
    holder = KpiConfigFile(path)
    assert holder.get().default.thresholds.service_level_seconds == 20
    path.write_text("default:\n  thresholds: {service_level_seconds: 30}\n", encoding="utf-8")
    assert holder.get().default.thresholds.service_level_seconds == 30
    path.write_text("default:\n  thresholds: {service_level_seconds: 45.5}\n", encoding="utf-8")
    assert holder.get().default.thresholds.service_level_seconds == 45.5


def test_the_shipped_file_is_valid():
    from bot.config import Settings

    kpi = load_kpi_config(Settings().kpi_file).for_tenant("kobenhavn")
    assert kpi.thresholds.service_level_seconds == 20 and kpi.wallboard.longest_wait_seconds == 120
