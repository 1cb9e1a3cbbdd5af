# coopledger: the API and web pages, served by uvicorn on port 8000.
#
#   docker build -t coopledger .
#   docker run -p 8000:8000 \
#     -e DATABASE_URL=postgresql://coop@db.example/coopledger \
#     -e COOPLEDGER_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
#     coopledger
#
# The image runs with COOPLEDGER_ENV=production, so it refuses to start without a real
# COOPLEDGER_SECRET_KEY. Without DATABASE_URL it keeps a SQLite file in the /app/data volume.
# Each start runs `coopledger db upgrade` (Alembic) before serving.

# -- builder: the package and its dependencies in a virtualenv -----------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

# -- runtime ---------------------------------------------------------------------------------------
FROM python:3.11-slim

# PYTHONPATH: the source tree under /app is imported (not the copy in the virtualenv), so that
# app.core.migrations finds alembic.ini and migrations/ next to app/.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    COOPLEDGER_ENV=production

RUN groupadd --system --gid 10001 coop \
 && useradd --system --uid 10001 --gid coop --home-dir /app --shell /usr/sbin/nologin coop

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY schedules ./schedules
COPY app ./app
RUN mkdir -p /app/data && chown coop:coop /app/data

USER coop
VOLUME ["/app/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["sh", "-c", "coopledger db upgrade && exec uvicorn app.main:app --host 0.0.0.0 --port 8000"]
