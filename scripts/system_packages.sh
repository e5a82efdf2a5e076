#!/usr/bin/env bash
# System packages some notebooks use: Chromium + its driver (headless screenshots of Netron
# and of the browser page, notebooks 12 and 16), hey (HTTP load, notebook 15) and graphviz
# (graph pictures, notebook 12). Installed from Debian when this is root on a machine with
# apt-get. Whatever is still missing then gets one line: what it is for and the command that
# installs it on this system (apt-get, Homebrew, winget/choco); those notebook sections say
# so and skip. Never fails the set-up. `python -m helpers.doctor` gives the full picture.
set -u

# tool (as the notebooks call it) | Debian package | what the course uses it for
tools=(
  "chromium|chromium|headless browser for Netron graph pictures (12) and the browser chapter (16)"
  "chromedriver|chromium-driver|lets Selenium drive that browser (12, 16)"
  "hey|hey|HTTP load generator for the load test of notebook 15"
  "dot|graphviz|graphviz, the light graph pictures of notebook 12"
)

missing_packages() {
  local entry tool package
  for entry in "${tools[@]}"; do
    IFS='|' read -r tool package _ <<<"$entry"
    command -v "$tool" >/dev/null 2>&1 || printf '%s\n' "$package"
  done
}

# The command that installs one tool on this kind of system.
install_hint() {
  local tool=$1 package=$2
  case "$(uname -s)" in
    Darwin)
      case "$tool" in
        chromium) echo "brew install --cask google-chrome" ;;
        chromedriver) echo "brew install --cask chromedriver" ;;
        *) echo "brew install $package" ;;
      esac ;;
    MINGW*|MSYS*|CYGWIN*)
      case "$tool" in
        chromium) echo "winget install Google.Chrome" ;;
        chromedriver) echo "choco install chromedriver" ;;
        hey) echo "go install github.com/rakyll/hey@latest (or use WSL)" ;;
        dot) echo "winget install Graphviz.Graphviz" ;;
      esac ;;
    *)
      if command -v apt-get >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then echo "apt-get install $package"; else echo "sudo apt-get install $package"; fi
      else
        case "$tool" in
          dot) echo "conda install -c conda-forge graphviz (or your distribution's graphviz)" ;;
          hey) echo "go install github.com/rakyll/hey@latest" ;;
          *) echo "your distribution's $package package" ;;
        esac
      fi ;;
  esac
}

need=$(missing_packages | tr '\n' ' ')  # a plain string: macOS's bash 3.2 has no mapfile
need=${need% }
if [ -z "$need" ]; then
  exit 0
fi
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: $need (apt-get, a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # one word per package
  if ! { apt-get update -qq >/dev/null && apt-get install -y -qq $need >/dev/null; }; then
    echo "warning: apt-get could not install $need" >&2
  fi
fi
for entry in "${tools[@]}"; do
  IFS='|' read -r tool package purpose <<<"$entry"
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "optional: $tool missing ($purpose); get it: $(install_hint "$tool" "$package")" >&2
  fi
done
echo "optional: the full check of this machine: python -m helpers.doctor" >&2
exit 0
