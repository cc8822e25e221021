# syntax=docker/dockerfile:1
# opsbot image: `docker build -t opsbot .` then `docker run -e SLACK_BOT_TOKEN=... opsbot`.
# Two stages: the builder installs opsbot and its dependencies into a venv; the final image gets
# only that venv on the same slim base (same interpreter path, so the venv's links hold), with no
# pip cache, no build tools and no root process. Bump both FROM lines together.

FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY playbooks ./playbooks
# Every dependency of opsbot ships manylinux wheels, so the builder needs no compiler either.
# Bytecode is compiled here because the chart mounts the root filesystem read-only.
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv/lib


FROM python:3.11.13-slim-bookworm

LABEL org.opencontainers.image.title="opsbot" \
      org.opencontainers.image.description="Slack chat-ops bot for incident response on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed uid/gid, so the Helm chart's runAsUser/fsGroup (10001) and volume ownership agree.
RUN groupadd --system --gid 10001 opsbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin opsbot \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPSBOT_DB=/data/opsbot.db \
    PORT=3000

WORKDIR /data
USER 10001:10001
EXPOSE 3000

# slim has no curl: ask /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

CMD ["opsbot", "serve"]
