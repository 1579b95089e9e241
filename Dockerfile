# Imagefill worker as a container (for platforms that deploy images). Not built by `make test`
# (no Docker engine there); it installs exactly what a VPS install does: `pip install -c constraints.txt .`
#   docker build -t imagefill .
#   docker run -d --name imagefill --restart always --stop-timeout 45 \
#     -v "$PWD/.env:/app/.env:ro" imagefill
# The worker reads /app/.env itself (quotes handled as in bash and systemd); `docker run --env-file`
# would keep the quotes of OFF_USER_AGENT="..." inside the value.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY worker ./worker
RUN pip install -c constraints.txt . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin imagefill \
    && mkdir -p /var/lib/imagefill && chown imagefill /var/lib/imagefill

USER imagefill
ENV RATE_LIMIT_DIR=/var/lib/imagefill/ratelimit \
    WORKER_HEALTH_PORT=8089 \
    LOG_JSON=true

# SIGTERM: stop claiming, finish or hand back running jobs within WORKER_SHUTDOWN_GRACE_SECONDS
# (20 s). Docker's default stop timeout is 10 s: run with --stop-timeout 45 (compose:
# stop_grace_period: 45s) so the hand-back is never cut short.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['WORKER_HEALTH_PORT'] + '/health', timeout=3)"]
CMD ["imagefill", "run"]
