"""The release history of a release repo (SPEC §6, §7): its release tags, newest first, per environment.

A release's versions come from its tag's trailers or, for a tag made before the app was installed (no trailers),
from the manifest file at the tagged commit. Tags are listed with their messages in one request per 100
(Forge.list_annotated_tags), in the order the forge gives: newest tagged commit first, which on a release repo is
the order the releases were made on its default branch.
"""
from __future__ import annotations

import re
from typing import Sequence

from bot.core import environments as envs
from bot.core import release as core
from bot.core.config import Config
from bot.core.environments import Environment
from bot.core.manifest import parse_manifest
from bot.forge.protocol import Forge
from bot.model import Tag

TAG_SCAN_LIMIT = 1000  # tags listed (with their messages) when reading history
MANIFESTS_READ_LIMIT = 20  # trailer-less tags whose manifest is read per history; each is one file read


def environment_of(tag_name: str, declared: str | None, environments: Sequence[Environment]) -> str | None:
    """The environment a release tag belongs to: its Environment trailer, else the environment whose tag prefix
    it carries, else the last one (releases tagged before `environments:` were production's)."""
    if declared:
        return declared
    prefixed = sorted((e for e in environments if e.tag_prefix and tag_name.startswith(e.tag_prefix)),
                      key=lambda e: len(e.tag_prefix), reverse=True)
    if prefixed:
        return prefixed[0].name
    plain = [e for e in environments if not e.tag_prefix]
    return plain[-1].name if plain else None


def template_pattern(template: str, prefix: str) -> re.Pattern:
    """A tag name the release.tag template (with the environment's prefix) could have rendered."""
    parts = re.split(r"(\{\{|\}\}|\{[^{}]*\})", template)
    body = "".join(re.escape(p[0]) if p in ("{{", "}}") else "[^/\\s]+?" if p.startswith("{") else re.escape(p)
                   for p in parts if p)
    return re.compile(re.escape(prefix) + body)


def release_history(forge: Forge, repo: str, config: Config, *, environment: Environment | None = None,
                    limit: int = TAG_SCAN_LIMIT, tags: Sequence[Tag] | None = None) -> tuple[core.ReleaseRecord, ...]:
    """Coordinated releases, newest first; only `environment`'s when given. `tags`: already listed."""
    environments = envs.of(config)
    listed = tags if tags is not None else forge.list_annotated_tags(repo, limit=limit)
    records: list[core.ReleaseRecord] = []
    manifests_read = 0
    for tag in listed:
        trailers = core.parse_release_trailers(tag.message)
        lineage = core.parse_lineage(tag.message)
        name = environment_of(tag.name, lineage.environment, environments)
        if environment is not None and name != environment.name:
            continue
        if trailers.release_id:
            records.append(core.ReleaseRecord(tag=tag.name, commit_sha=tag.commit_sha, versions=trailers.versions,
                                              environment=name, rollback_of=trailers.rollback_of,
                                              repeat_of=lineage.repeat_of))
            continue
        where = environment or envs.by_name(environments, name)
        if where is None or manifests_read >= MANIFESTS_READ_LIMIT or config.release is None:
            continue
        if not template_pattern(config.release.tag, where.tag_prefix).fullmatch(tag.name):
            continue
        manifests_read += 1
        versions = manifest_at(forge, repo, config, where, sha=tag.commit_sha)
        if versions:
            records.append(core.ReleaseRecord(tag=tag.name, commit_sha=tag.commit_sha, versions=versions,
                                              environment=name, from_manifest=True))
    return tuple(records)


def manifest_at(forge: Forge, repo: str, config: Config, environment: Environment, *, sha: str) -> dict[str, str]:
    """The versions in the environment's manifest at a commit (before `environments:` existed, the last
    environment's releases were in `release.manifest`); {} when there is none or it does not parse."""
    paths = [environment.manifest]
    if config.release is not None and config.release.manifest not in paths and not environment.tag_prefix:
        paths.append(config.release.manifest)
    for path in paths:
        found = forge.get_file(repo, path, ref=sha)
        if found is None:
            continue
        manifest, _problems = parse_manifest(found.content, path=path, config=config, allow_prerelease=True)
        return dict(manifest.versions) if manifest else {}
    return {}


def release_named(forge: Forge, repo: str, config: Config, name: str) -> core.ReleaseRecord | None:
    """One release by its tag name (`/rollback RELEASE_ID`, `plan --rollback RELEASE_ID`): its trailers, or the
    manifest at its commit for a tag made before the app was installed."""
    tag = forge.get_tag(repo, name)
    if tag is None:
        return None
    environments = envs.of(config)
    trailers = core.parse_release_trailers(tag.message)
    lineage = core.parse_lineage(tag.message)
    env_name = environment_of(name, lineage.environment, environments)
    if trailers.release_id and trailers.versions:
        return core.ReleaseRecord(tag=name, commit_sha=tag.commit_sha, versions=trailers.versions, environment=env_name,
                                  rollback_of=trailers.rollback_of, repeat_of=lineage.repeat_of)
    where = envs.by_name(environments, env_name)
    versions = manifest_at(forge, repo, config, where, sha=tag.commit_sha) if where is not None else {}
    if not versions:
        return None
    return core.ReleaseRecord(tag=name, commit_sha=tag.commit_sha, versions=versions, environment=env_name,
                              from_manifest=True)
