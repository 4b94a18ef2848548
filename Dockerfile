# incident-bot as a container image. `docker compose up` (compose.yaml) runs it with PostgreSQL; see
# "Running in a container" in README.md. Python 3.11: the version CI tests on.

# --- build: the project's wheel. Only this stage sees the source tree; it is thrown away. ---
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# What reaches this copy is decided by .dockerignore (pyproject.toml, README.md and the packages).
COPY . .
# The bot's own wheel only: every dependency has a manylinux wheel on PyPI, so the final stage compiles nothing.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- final: the installed bot; no source tree, no compilers ---
FROM python:3.11-slim-bookworm
# Logs reach `docker logs` at once; no .pyc files written at run time (pip compiles them at install).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=build /wheels/ /tmp/wheels/
# Wheels only: a dependency release without one for this Python fails here, plainly, instead of trying to compile.
RUN pip install --no-cache-dir --only-binary=:all: /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

# A system user with a fixed numeric id (Kubernetes' runAsNonRoot can only check a numeric USER), whose home is
# the data folder.
RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid incident-bot --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin incident-bot \
    && mkdir /data \
    && chown incident-bot:incident-bot /data

# The default DATABASE_URL is the SQLite file incident-bot.db in the working directory: it goes in /data.
WORKDIR /data
# Declared after the chown: a new volume starts as a copy of this folder, owned by the bot's user.
VOLUME ["/data"]
USER 10001:10001

EXPOSE 3000
# /healthz answers 200 only when the bot is ready (503 while it waits for its database, up to 120 s, upgrades
# the schema and asks Slack who it is), hence the long start period. Standard library only (slim images have
# no curl); http.client, unlike urllib, never goes through an HTTP(S)_PROXY set in the environment.
HEALTHCHECK --interval=30s --timeout=5s --start-period=150s --retries=3 \
    CMD ["python", "-c", "import http.client, sys; c = http.client.HTTPConnection('127.0.0.1:3000', timeout=4); c.request('GET', '/healthz'); sys.exit(0 if c.getresponse().status == 200 else 1)"]

# Exec form: the bot is PID 1 and gets SIGTERM itself (it handles it from the start, while it waits for its
# database too; it finishes work already acknowledged, then stops). Run with an init (`docker run --init`,
# `init: true` in compose.yaml) so the root-cause engine's child processes are reaped.
ENTRYPOINT ["incident-bot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
