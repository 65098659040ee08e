"""Which municipality a mail is for: found from the address it was sent to, or the mailbox it
was fetched from, never from who pushed it. Each address in knowledge/tenants.yaml (`mailboxes`)
may have its own push secret and its own IMAP mailbox; their secrets are read from the
environment variables the file names, once at start-up.

Push (POST /email/inbound), in order:
1. the secret is an address's own: that address's tenant;
2. the secret is the installation's (KONTAKT_EMAIL_INBOUND_SECRET): the tenant of the first
   recipient (Delivered-To, X-Original-To, To, Cc) that is a municipality's address;
3. no recipient is: the one tenant of a single-municipality installation (the old
   `?tenant=` query still names it); with several municipalities the mail is refused (404).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from pydantic import SecretStr

from bot.tenants import Tenant, Tenants
from connectors.email.addresses import mailboxes

__all__ = ["MailboxSecrets", "PushAuth", "recipients", "tenant_of_push"]

log = logging.getLogger("kontakt.email.mailboxes")

# Envelope headers first: they carry the address the mail system delivered to, also for Bcc.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")


def recipients(raw: bytes) -> list[str]:
    """The recipient addresses of a raw mail, envelope headers first, lower case, in order.
    Never raises: broken headers give fewer addresses."""
    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(raw[: 256 * 1024], headersonly=True)
    except Exception:  # noqa: BLE001 - a mail too broken to read has no recipients we can trust
        return []
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        for value in head.get_all(name) or ():
            for box in mailboxes(str(value)):
                addr = box.addr_spec.strip().lower()
                if "@" in addr and addr not in found:
                    found.append(addr)
    return found


@dataclass(frozen=True)
class MailboxSecrets:
    """Each address's own push secret and IMAP password, read from the environment variables
    knowledge/tenants.yaml names. An address whose variable is unset simply has none."""

    push: Mapping[str, SecretStr]  # address -> its push secret
    imap: Mapping[str, SecretStr]  # address -> its IMAP password

    @classmethod
    def from_environment(cls, tenants: Tenants, environ: Mapping[str, str]) -> MailboxSecrets:
        push: dict[str, SecretStr] = {}
        imap: dict[str, SecretStr] = {}
        for t in tenants.tenants:
            for m in t.mailboxes:
                if m.push_secret_env:
                    value = environ.get(m.push_secret_env, "").strip()
                    if value:
                        push[m.address] = SecretStr(value)
                    else:
                        log.info("tenant %s: %s is not set; pushes for %s need the installation's secret",
                                    t.id, m.push_secret_env, m.address)  # fmt: skip
                if m.imap is not None:
                    value = environ.get(m.imap.password_env, "").strip()
                    if value:
                        imap[m.address] = SecretStr(value)
                    else:
                        log.warning("tenant %s: %s is not set; mailbox %s is not polled",
                                    t.id, m.imap.password_env, m.address)  # fmt: skip
        return cls(push, imap)

    def polled(self, tenants: Tenants) -> Iterator[tuple[Tenant, str]]:
        """(tenant, address) of every mailbox with IMAP settings and a password."""
        for t in tenants.tenants:
            for m in t.mailboxes:
                if m.imap is not None and m.address in self.imap:
                    yield t, m.address


@dataclass(frozen=True)
class PushAuth:
    """Who may push: `addresses` the secret is the own secret of, `installation` whether it is
    the installation-wide one."""

    addresses: tuple[str, ...]
    installation: bool

    @classmethod
    def check(cls, given: str, installation: SecretStr | None, secrets: MailboxSecrets) -> PushAuth:
        own = tuple(a for a, s in secrets.push.items() if _same(given, s))
        return cls(own, installation is not None and _same(given, installation))

    @property
    def ok(self) -> bool:
        return bool(self.addresses) or self.installation


def _same(given: str, secret: SecretStr) -> bool:
    expected = secret.get_secret_value()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def tenant_of_push(raw: bytes, auth: PushAuth, tenants: Tenants, named: str | None) -> Tenant | None:
    """The tenant a pushed mail is for (module docstring), or None when no municipality here
    receives mail at its addresses. `named` is the old `?tenant=` query; an unknown one raises
    `UnknownTenant`."""
    if named is not None:
        tenants.get(named)  # an unknown name is refused as before, whatever the address says
    if auth.addresses:
        return tenants.for_address(auth.addresses[0])
    for addr in recipients(raw):
        tenant = tenants.for_address(addr)
        if tenant is not None:
            return tenant
    return tenants.single
