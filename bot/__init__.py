"""release-coordinator: every owning team approves; infra and app ship together."""
