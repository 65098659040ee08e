"""Routing: opening hours and SLA deadlines (`calendar`), skill-based queue and agent
choice (`skills`). Pure functions; import from the submodules."""
