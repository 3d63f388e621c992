#!/usr/bin/env bash
# `make up`, step 0 (before the virtualenv is built): the Pulumi CLI, at the version of the
# pinned SDK (requirements.txt `pulumi==X`). A CLI already on PATH is used as it is (its
# version is printed next to the SDK's); a missing one is installed with Pulumi's official
# installer (`--version X`), and where that is impossible `make up` stops here, in seconds,
# saying how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."
SDK_VERSION=$(sed -n 's/^pulumi==\([0-9][0-9.]*\).*/\1/p' requirements.txt)
[ -n "$SDK_VERSION" ] || { echo "make up: no pulumi==X pin in requirements.txt" >&2; exit 1; }
INSTALLER_URL=${PULUMI_INSTALLER_URL:-https://get.pulumi.com}
PATH=$HOME/.pulumi/bin:$PATH

if command -v pulumi >/dev/null 2>&1; then
  cli=$(pulumi version 2>/dev/null | sed 's/^v//')
  echo "==> Pulumi CLI $cli at $(command -v pulumi) (the pinned SDK is $SDK_VERSION)"
  exit 0
fi
echo "==> the Pulumi CLI is not installed; installing v$SDK_VERSION (the pinned SDK's version) with Pulumi's official installer"
installer=$(mktemp)
trap 'rm -f "$installer"' EXIT
if ! command -v curl >/dev/null 2>&1 ||
  ! curl -fsSL --connect-timeout 5 --max-time 60 "$INSTALLER_URL" -o "$installer"; then
  cat >&2 <<MSG
make up: the Pulumi CLI is required and could not be installed automatically
($INSTALLER_URL is not reachable from this machine). Install v$SDK_VERSION by one of the ways on
https://www.pulumi.com/docs/iac/download-install/ — for example
  curl -fsSL https://get.pulumi.com | sh -s -- --version $SDK_VERSION   (Linux, macOS)
  brew install pulumi/tap/pulumi                                        (macOS)
  winget install pulumi                                                 (Windows)
then run \`make up\` again. Nothing was built yet; \`make test\` does not need the CLI.
MSG
  exit 1
fi
sh "$installer" --silent --version "$SDK_VERSION" || {
  echo "make up: Pulumi's installer failed; see its output above" >&2
  exit 1
}
command -v pulumi >/dev/null 2>&1 || {
  echo "make up: the Pulumi CLI was installed but is not on PATH (~/.pulumi/bin)" >&2
  exit 1
}
echo "==> Pulumi CLI $(pulumi version) at $(command -v pulumi)"
