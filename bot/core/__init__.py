"""Pure decisions: stdlib, semver and yaml only; no clock, environment or network."""
