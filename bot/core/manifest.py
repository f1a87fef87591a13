"""The release manifest (SPEC §2): both forms, validated with line numbers."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from bot.core.checks import Problem
from bot.core.config import Config

MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class Manifest:
    versions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # component -> version
    rollback: bool = False
    notes: str = ""


def parse_manifest(text: bytes, *, path: str, config: Config) -> tuple[Manifest | None, tuple[Problem, ...]]:
    """Both forms of SPEC §2 -> Manifest keyed by component name, or the problems with their lines."""
    raise NotImplementedError("implemented with issue 5")
