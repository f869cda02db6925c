FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir uv==0.13.8 && uv pip sync --system requirements.lock
COPY . .
# collectstatic needs a key only to import settings; the real one comes from .env at run time.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home arena
USER arena
EXPOSE 8000
