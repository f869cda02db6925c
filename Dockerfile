FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app
COPY requirements.lock pyproject.toml ./
# Bytecode compiled at build time: with PYTHONDONTWRITEBYTECODE nothing is cached at run time, so an image without
# .pyc files recompiles every module on every start (seconds for each `manage.py` command).
RUN pip install --no-cache-dir uv==0.13.8 && uv pip sync --system --compile-bytecode requirements.lock
COPY . .
RUN python -m compileall -q arena judges leaderboard live manage.py
# collectstatic needs a key only to import settings; the real one comes from .env at run time.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home arena
USER arena
EXPOSE 8000
