"""The owners file (bot/knowledge/owners.py): what it accepts, what it refuses (naming the owner
and the key), and when the weekly reminder's slot falls."""

from __future__ import annotations

import datetime as dt
from datetime import UTC

import pytest
import yaml

from bot.config import ROOT
from bot.knowledge.owners import NATIONAL, OwnersError, ReminderTime, Weekday, load_owners, parse_owners

pytestmark = pytest.mark.unit

TENANTS = {"kobenhavn", "rodovre"}


def _parse(text: str):
    return parse_owners(yaml.safe_load(text), "owners.yaml", TENANTS)


def test_the_real_owners_file_loads():
    owners = load_owners(ROOT / "knowledge" / "owners.yaml", TENANTS)
    assert owners.default_interval_days == 365
    assert owners.get("tmf").tenant == NATIONAL
    assert owners.get("rk_pladsanvisning").tenant == "rodovre"
    assert owners.interval("kk_borgerservice") == 180 and owners.interval("tmf") == 365
    # Neither municipality names a functional address for these units on its own pages (yet).
    assert all(o.email == "" for o in owners.owners.values())


def test_defaults_and_a_tenants_own_reminder_time():
    owners = _parse("""
owners:
  tmf: {name: Teknik og miljø, email: tmf@kommune.dk}
reminders: {weekday: Wednesday, hour: 9, tenants: {rodovre: {weekday: friday, hour: 14}}}
""")
    assert owners.interval("tmf") == 365
    assert owners.get("tmf").email == "tmf@kommune.dk"
    assert (owners.reminders.for_tenant("kobenhavn").weekday, owners.reminders.for_tenant("kobenhavn").hour) == (
        Weekday.WEDNESDAY, 9)
    assert owners.reminders.for_tenant("rodovre").weekday is Weekday.FRIDAY
    assert owners.reminders.for_tenant(NATIONAL).hour == 9


@pytest.mark.parametrize(
    ("text", "owner", "key"),
    [
        ("owners: {tmf: {email: tmf@kommune.dk}}", "tmf", "name"),
        ("owners: {tmf: {name: T, email: 'tmf at kommune'}}", "tmf", "email"),
        ("owners: {tmf: {name: T, review_interval_days: 0}}", "tmf", "review_interval_days"),
        ("owners: {tmf: {name: T, interval: 30}}", "tmf", "interval"),
        ("owners: {tmf: {name: T, tenant: ballerup}}", "tmf", "tenant"),
        ("owners: {TMF: {name: T}}", "TMF", "id"),
        ("owners: {tmf: [name]}", "tmf", "owners"),
        ("default_interval_days: -1", "*", "default_interval_days"),
        ("reminders: {weekday: someday}", "*", "reminders.weekday"),
        ("reminders: {hour: 24}", "*", "reminders.hour"),
        ("reminders: {timezone: Europe/Atlantis}", "*", "reminders.timezone"),
        ("reminders: {tenants: {ballerup: {hour: 8}}}", "*", "reminders.tenants.ballerup"),
        ("owners: [tmf]", "*", "owners"),
    ],
    ids=["no-name", "bad-email", "zero-days", "unknown-key", "unknown-tenant", "bad-id", "not-a-mapping",
         "bad-default", "bad-weekday", "bad-hour", "bad-zone", "unknown-reminder-tenant", "owners-list"],
)  # fmt: skip
def test_a_bad_owners_file_names_the_owner_and_the_key(text, owner, key):
    with pytest.raises(OwnersError) as err:
        _parse(text)
    assert (err.value.owner, err.value.key) == (owner, key)
    assert f"owner {owner!r}, key {key!r}" in str(err.value) and "owners.yaml" in str(err.value)


def test_a_missing_or_broken_file_is_an_error(tmp_path):
    with pytest.raises(OwnersError, match="cannot be read"):
        load_owners(tmp_path / "owners.yaml")
    (tmp_path / "owners.yaml").write_text("owners: {tmf: [", encoding="utf-8")
    with pytest.raises(OwnersError, match="not valid YAML"):
        load_owners(tmp_path / "owners.yaml")


def test_the_weekly_slot_is_local_time_in_the_week_of_now():
    monday_8 = ReminderTime(weekday=Weekday.MONDAY, hour=8)
    # Thursday 3 June 2027 (summer time): Monday 31 May 08:00 Copenhagen = 06:00 UTC, week 22
    thursday = dt.datetime(2027, 6, 3, 12, tzinfo=UTC)
    assert monday_8.slot(thursday) == dt.datetime(2027, 5, 31, 6, tzinfo=UTC)
    assert monday_8.week(thursday) == "2027-W22"
    # Sunday 23:30 UTC is already Monday in Copenhagen: the new week, its slot still ahead
    late = dt.datetime(2027, 6, 6, 23, 30, tzinfo=UTC)
    assert monday_8.week(late) == "2027-W23" and monday_8.slot(late) > late
    # In winter 08:00 Copenhagen is 07:00 UTC
    assert monday_8.slot(dt.datetime(2027, 1, 6, tzinfo=UTC)) == dt.datetime(2027, 1, 4, 7, tzinfo=UTC)
