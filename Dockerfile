# The production image: the same code as the demo, configured by environment (.env.example).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
# Dependencies first, from the lock file only, so code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY . .
RUN useradd --system --uid 10001 --home-dir /app clinic \
    && mkdir -p /data \
    && chown clinic:clinic /data
USER clinic

EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "clinic.wsgi"]
