# The gateway's container image: the gateway and its SDK from this checkout, no local model.
#
#   docker build -t meshapi-gateway .
#   docker run -p 8000:8000 -e MESHAPI_GATEWAY_ADMIN_TOKEN=... meshapi-gateway
#
# compose.yaml runs two of these behind nginx with PostgreSQL and Redis (docs/deployment.md).
# The local model (llama-cpp-python compiles llama.cpp) is left out to keep the image small and
# the build free of a compiler; build from this image and `pip install "./gateway[local]"` to add it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY sdk/pyproject.toml sdk/README.md sdk/LICENSE sdk/
COPY sdk/src sdk/src
COPY gateway/pyproject.toml gateway/README.md gateway/
COPY gateway/src gateway/src

RUN pip install ./sdk ./gateway \
    && useradd --system --create-home --home-dir /var/lib/meshapi meshapi

USER meshapi
WORKDIR /var/lib/meshapi

# Listen on every interface of the container; keep data (SQLite when no database_url, the JWT
# secret when none is set, the ledger journal) in the home folder, which compose mounts as a volume.
ENV MESHAPI_GATEWAY_HOST=0.0.0.0 \
    MESHAPI_GATEWAY_PORT=8000 \
    MESHAPI_GATEWAY_DATA_DIR=/var/lib/meshapi \
    MESHAPI_GATEWAY_LOCAL_MODEL_ENABLED=false

EXPOSE 8000

# Liveness only: readiness (/ready) is the load balancer's business, not a reason to restart.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]

# One signal (SIGTERM, what `docker stop` sends) is a graceful stop: in-flight requests finish and
# the ledger is written. Give it longer than shutdown_grace_seconds (docker stop -t 40).
STOPSIGNAL SIGTERM
CMD ["meshapi-gateway", "serve"]
