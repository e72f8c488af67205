# Two images from this file:
# - `singleuser` (docker build --target singleuser): each learner's server, for DockerSpawner
#   (docker compose) and Zero to JupyterHub: JupyterLab, nbgitpuller, and the kernels the
#   workshops use: python3 and PowerShell.
# - the last stage, the default target: the portal, the Celery worker and beat, and the hub.
# (The embedded default, `make start`, runs learners' servers from the project's virtualenv,
# which has no PowerShell: the PowerShell workshop says so there and is run locally instead.)

FROM quay.io/jupyter/base-notebook:2025-01-06 AS singleuser
USER root
# PowerShell 7 from Microsoft's package repository for this Ubuntu release
# (https://learn.microsoft.com/powershell/scripting/install/install-ubuntu).
RUN apt-get update && apt-get install -y --no-install-recommends wget ca-certificates \
    && . /etc/os-release \
    && wget -q "https://packages.microsoft.com/config/ubuntu/${VERSION_ID}/packages-microsoft-prod.deb" \
    && dpkg -i packages-microsoft-prod.deb && rm packages-microsoft-prod.deb \
    && apt-get update && apt-get install -y --no-install-recommends powershell \
    && rm -rf /var/lib/apt/lists/* \
    && pwsh -NoLogo -NoProfile -Command '$PSVersionTable.PSVersion'
# The learner's JupyterLab settings, where the hub's JUPYTER_CONFIG_PATH points (hubconfig/).
COPY hubconfig/singleuser /app/hubconfig/singleuser
USER ${NB_UID}
# nbgitpuller for Launch; the PowerShell kernel (kernel spec "powershell", as the notebooks name it).
RUN pip install --no-cache-dir nbgitpuller powershell_kernel \
    && python -m powershell_kernel.install --sys-prefix \
    && jupyter kernelspec list | grep -q powershell
# The Redfish emulator the Redfish workshops start for each learner (their workshop.yml `lab:`).
RUN pip install --no-cache-dir sushy-tools && sushy-emulator --help > /dev/null

FROM python:3.11-slim AS portal
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
