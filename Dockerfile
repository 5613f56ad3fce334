# The slopmachine-ops worker image: the flows, the engines and a Prefect
# process worker. Node.js is included for PM2 and the local MCP app.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm openssh-client age \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 slopops
WORKDIR /opt/slopmachine-ops

COPY pyproject.toml README.md ./
COPY config ./config
COPY slopops ./slopops
COPY flows ./flows
COPY tasks ./tasks
COPY bench ./bench
COPY deployments ./deployments
RUN pip install --no-cache-dir .

COPY tools/package.json tools/package-lock.json ./tools/
RUN cd tools && npm ci --no-audit --no-fund --omit=dev

RUN mkdir -p .state && chown slopops:slopops .state
USER slopops
ENV SLOPOPS_WORKSPACE=/opt/slopmachine-ops \
    PREFECT_WORKER_QUERY_SECONDS=5 \
    MALLOC_ARENA_MAX=2
CMD ["prefect", "worker", "start", "--pool", "slopops-process", "--type", "process"]
