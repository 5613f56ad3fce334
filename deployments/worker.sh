#!/usr/bin/env bash
# Start a process worker on the slopops-process pool, running flows from this
# checkout. PREFECT_API_URL must name the Prefect server.
set -euo pipefail
workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLOPOPS_WORKSPACE="${SLOPOPS_WORKSPACE:-$workspace}"
# Two glibc malloc arenas keep the peak RSS of backup and restore flow runs
# flat as the database grows (docs/benchmarks.md, section backups).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec "${PREFECT:-$workspace/.venv/bin/prefect}" worker start \
  --pool slopops-process --type process --name "slopops-$(hostname)-$$"
