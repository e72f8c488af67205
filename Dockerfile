# One image for the portal, the Celery worker and beat (and the hub): different commands.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json ./
RUN npm install --no-audit --no-fund --omit=dev
COPY pyproject.toml README.md ./
COPY portal portal
COPY catalog catalog
COPY hubconfig hubconfig
RUN pip install --no-cache-dir ".[docker]"
COPY . .
RUN DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --noinput -v0
ENV PORTAL_VAR_DIR=/data DEBUG=false
EXPOSE 8000
# waitress (portal/webserver.py): whole requests are read before a thread sees them, so slow
# clients cannot hold the portal; docker compose's production profile puts Caddy (TLS) in front.
CMD ["python", "-m", "portal.webserver", "--listen", "0.0.0.0:8000"]
