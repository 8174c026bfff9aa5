FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# Runtime dependencies only (no pytest, playwright or other dev tools): requirements.runtime.lock
# is compiled from pyproject's main dependencies at the dev lock's versions (make lock).
COPY requirements.runtime.lock .
RUN pip install --no-cache-dir "uv==0.13.9" \
    && uv pip install --system --no-cache -r requirements.runtime.lock \
    && pip uninstall --yes uv
COPY . .
RUN useradd --create-home pumptrack && chown -R pumptrack /app
USER pumptrack
# Reached only through the reverse proxy (docker-compose.yml); not published.
EXPOSE 8000
