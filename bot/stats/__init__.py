"""Contact-centre statistics as pure functions: per-contact facts folded from the event log
(`facts`), and KPIs with documented definitions over them (`kpi`, docs/kpi.md)."""
