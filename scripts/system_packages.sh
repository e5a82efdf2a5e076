#!/usr/bin/env bash
# System packages some notebooks use: Chromium + its driver (headless screenshots of Netron
# and of the browser page, notebooks 12 and 16), hey (HTTP load, notebook 15) and graphviz
# (graph pictures, notebook 12). Installed from Debian when this is root on a machine with
# apt-get; otherwise one line says what is missing, and those notebook sections and tests
# say so and skip. Never fails the set-up.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v hey >/dev/null 2>&1 || need+=(hey)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${need[*]} (apt-get, a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install ${need[*]}; the sections that need them will skip" >&2
else
  echo "note: missing ${need[*]}; install them (Debian/Ubuntu: sudo apt-get install ${need[*]})" \
       "for the browser and load-test sections; without them those sections skip" >&2
fi
exit 0
