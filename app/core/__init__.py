"""The small shared kernel: database base, clock, calendar, audit log, events, storage, errors and
permissions. Nothing domain-specific lives here."""
