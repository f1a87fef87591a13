"""Release announcements (SPEC §3 `notify:`): render per target kind, deliver from the queue, one job per target."""
