"""Compatibility: the domain values moved to bot.model and the protocol to bot.forge.protocol; import from
here keeps working."""
from __future__ import annotations

from bot.forge.protocol import Forge
from bot.model import (
    Approval, ChangedFile, Commit, Comparison, ExistingCheck, FileContent, FileRef, Note, Permission, PullFiles,
    PullRequest, Release, RepoLayout, Review, ReviewState, Tag, TeamInfo,
)

__all__ = [
    "Approval", "ChangedFile", "Commit", "Comparison", "ExistingCheck", "FileContent", "FileRef", "Forge", "Note",
    "Permission", "PullFiles", "PullRequest", "Release", "RepoLayout", "Review", "ReviewState", "Tag", "TeamInfo",
]
