#!/usr/bin/env bash
# Installs the Debian packages a command needs, read from worker/offline/system-deps.tsv.
#   scripts/install-system-deps.sh demo    # what `make demo` needs
#   scripts/install-system-deps.sh test    # what `make test` needs (includes demo)
#   scripts/install-system-deps.sh --print test   # list the packages, install nothing
# A no-op (no apt-get at all, not even `update`) when every file is already present.
# Installing needs root; a non-root user is told the one command to run.
set -euo pipefail

print_only=0
if [ "${1:-}" = "--print" ]; then
  print_only=1
  shift
fi
profile="${1:-test}"
case "$profile" in
  demo) wanted="demo" ;;
  test) wanted="demo test" ;;
  *) echo "perfil desconhecido: $profile (use demo ou test)" >&2; exit 2 ;;
esac

manifest="$(dirname "$0")/../worker/offline/system-deps.tsv"
missing=()
all=()
while IFS=$'\t' read -r line_profile path package; do
  case "$line_profile" in ''|'#'*) continue ;; esac
  [[ " $wanted " == *" $line_profile "* ]] || continue
  [[ " ${all[*]:-} " == *" $package "* ]] || all+=("$package")
  # usrmerge: /sbin/x and /usr/sbin/x are the same file on Debian 12; either counts.
  if [ ! -e "$path" ] && [ ! -e "/usr$path" ]; then
    [[ " ${missing[*]:-} " == *" $package "* ]] || missing+=("$package")
  fi
done < "$manifest"

if [ "$print_only" = 1 ]; then
  echo "${all[*]}"
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Faltam pacotes do sistema para \`make $profile\`: ${missing[*]}." >&2
  echo "Rode uma vez, como root: sudo apt-get update && sudo $command" >&2
  exit 1
fi
echo "Instalando pacotes do sistema: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
$command -qq >/dev/null
