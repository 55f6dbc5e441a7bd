"""Periodic work: the outbox delivery job (later: SLA sweeps, reminders, surveys, reports)."""
