#!/usr/bin/env bash
# Installs the Debian packages Imagefill's demo and tests need, only when missing.
# Safe to run repeatedly; needs root (CI and the dev machines run as root).
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/pgtap.control ] || need+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null || need+=(postgresql-15-pgtap)
command -v psql >/dev/null || need+=(postgresql-client-15)
if [ "${IMAGEFILL_WITH_BROWSER:-0}" = "1" ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Faltam pacotes do sistema: ${need[*]}. Rode como root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Instalando pacotes do sistema: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
