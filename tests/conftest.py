"""Test helpers every module can use.

shared_path(): the team's shared/ folder (CODEOWNERS corpora, forge fixtures) lives beside the clone, not in it:
    parent/
      release-coordinator/   <- this clone
      shared/                <- corpora/, fixtures/
RC_SHARED_DIR points elsewhere. A test that needs it skips and says which folder it looked for, so a missing
shared/ is never a silent pass (pytest -rs lists the reasons). No test reads an absolute path of one machine.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CLONE = Path(__file__).resolve().parents[1]
SHARED_ENV = "RC_SHARED_DIR"


def shared_dir() -> Path:
    """Where shared/ is expected: $RC_SHARED_DIR, else the folder beside the clone."""
    configured = os.environ.get(SHARED_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else CLONE.parent / "shared"


def shared_path(*parts: str) -> Path:
    """shared/<parts>, or skip the calling test (or module, at import) naming the folder that is missing."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path}: put the shared/ folder beside this clone ({CLONE.parent}/shared) or set "
                    f"{SHARED_ENV} (README: Tests)", allow_module_level=True)
    return path
