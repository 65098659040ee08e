"""The e-mail channel. Import from the submodules:

- `inbound`: raw bytes to `InboundMail` (`parse_mail`), the RFC 3834 loop guard (`automatic_reason`)
- `threading`: which conversation a mail belongs to (`thread_key`, `reply_references`)
- `outbound`: reply builders (`auto_reply`, `agent_reply`), mail policy (`routing_hint`), SLA warnings
- `transport`: `SmtpSender` and `ImapPoller` (the only modules here that do network I/O)
- `templates_da.yml`: the Danish reply texts
"""
