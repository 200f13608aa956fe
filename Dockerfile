# Amends: a slim image that runs as a non-root user, applies migrations, then serves.
#   docker build -t amends .
#   docker run --env-file .env -p 3000:3000 -v amends-data:/home/amends/data amends
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY playbooks ./playbooks
RUN pip install ".[postgres]" \
    && useradd --create-home --uid 10001 amends \
    && mkdir -p /home/amends/data && chown amends:amends /home/amends/data

USER amends
WORKDIR /home/amends
ENV DATABASE_URL=sqlite:////home/amends/data/amends.db \
    PORT=3000
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["sh", "-c", "amends db upgrade && exec amends serve"]
