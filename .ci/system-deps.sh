#!/usr/bin/env bash
# System packages for the integration and browser tests (Debian, run as root by .ci/run; idempotent, quiet):
# PostgreSQL (a cluster on 127.0.0.1 with a role and database for the tests), Chromium + chromedriver, and the
# CJK fonts and Pango that WeasyPrint renders the statutory papers to PDF with.
# Writes the test database URL to .ci/pg.env, which tests/integration/conftest.py reads; exports nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_USER=shouhu
PG_PASSWORD=shouhu-test-only
PG_DB=shouhu_test
PG_PORT="${SHOUHU_TEST_PG_PORT:-5432}"
PACKAGES=(postgresql chromium chromium-driver fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0)

say() { echo "system-deps: $*"; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The newest installed major version and its cluster (create one if the package made none).
PG_VERSION="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^${PG_VERSION} main$"; then
  say "creating PostgreSQL ${PG_VERSION} cluster"
  pg_createcluster -p "$PG_PORT" "$PG_VERSION" main >/dev/null
fi
PG_PORT="$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $3}')"
CONF="/etc/postgresql/${PG_VERSION}/main/postgresql.conf"
if ! grep -q "^listen_addresses = '127.0.0.1'" "$CONF"; then
  echo "listen_addresses = '127.0.0.1'" >> "$CONF"  # loopback only
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
  say "starting PostgreSQL ${PG_VERSION} on 127.0.0.1:${PG_PORT}"
  pg_ctlcluster "$PG_VERSION" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
  sleep 1
done

psql_admin() { runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '${PG_USER}'")" != "1" ]; then
  psql_admin -c "CREATE ROLE ${PG_USER} LOGIN PASSWORD '${PG_PASSWORD}'"
fi
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '${PG_DB}'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE ${PG_DB} OWNER ${PG_USER}"
fi

echo "SHOUHU_TEST_PG_URL=postgresql+psycopg://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}" > .ci/pg.env
say "PostgreSQL ready (URL in .ci/pg.env)"
