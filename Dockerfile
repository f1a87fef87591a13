# release-coordinator: one process per container, chosen by the argument:
#   docker run IMAGE            -> `release-coordinator serve`  (web + embedded worker, SQLite on the volume)
#   docker run IMAGE web        -> web only (QUEUE_URL=redis://...), run `worker` containers beside it
#   docker run IMAGE worker     -> queue consumers only
# Pin the base by digest in your registry mirror (python:3.12-slim-bookworm@sha256:...) for reproducible builds.

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# What `pip install .` reads: the project file and the package (bot/defaults.yml links into config/, bot/app.yml
# to the App manifest that /setup posts).
COPY pyproject.toml app.yml ./
COPY config ./config
COPY bot ./bot
# The install steps CI runs (.ci/run: a venv, then pip install of the project), without the test extra and
# not editable, so the image holds no source tree.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/release-coordinator --help > /dev/null

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="release-coordinator" \
      org.opencontainers.image.description="GitHub App + GitLab bot: each owning team approves; coordinated releases"
# A fixed non-root uid/gid, so Kubernetes' runAsNonRoot can verify it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /var/lib/release-coordinator --no-create-home \
       --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0700 /var/lib/release-coordinator
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    QUEUE_URL=sqlite:////var/lib/release-coordinator/queue.db \
    GITHUB_APP_CREDENTIALS_FILE=/var/lib/release-coordinator/github-app.env
# The SQLite queue, the key-value store and the App credentials written by /setup live here; mount a volume.
VOLUME ["/var/lib/release-coordinator"]
WORKDIR /var/lib/release-coordinator
USER 10001:10001
EXPOSE 3000
# slim has no curl: ask /healthz with the image's own Python. A `worker` container serves no HTTP: disable the
# check for it (docker-compose.yml does; Kubernetes ignores HEALTHCHECK and uses the probes in deploy/).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["release-coordinator"]
CMD ["serve"]
