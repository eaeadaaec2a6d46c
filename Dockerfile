# syntax=docker/dockerfile:1
# The exporter's container image, which the Helm chart (helm/intune-endpoint-exporter) runs:
#   docker build -t ghcr.io/intune-endpoint-exporter/intune-endpoint-exporter:0.1.0 .
# The builder stage builds the wheel; the final stage installs it into a slim Python without build tools.
# No HEALTHCHECK: Kubernetes probes /healthz and /ready itself.

FROM python:3.11-slim-bookworm AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /dist .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STATE_DIRECTORY=/var/lib/intune-endpoint-exporter
COPY --from=builder /dist/ /tmp/dist/
RUN pip install --no-cache-dir --disable-pip-version-check /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot \
    && install -d -o 65532 -g 65532 -m 0700 /var/lib/intune-endpoint-exporter
USER 65532:65532
EXPOSE 10094
ENTRYPOINT ["intune-exporter"]
CMD ["serve"]
