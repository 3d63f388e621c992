#!/usr/bin/env bash
# `make up`: reconcile specs/ on the `local` stack against the local emulator.
#
# 1. the Pulumi CLI (scripts/pulumi-cli.sh, run by `make up` before the venv is built),
# 2. a file state backend under the project (.pulumi-state/), no Pulumi Cloud account,
# 3. the `local` stack, selected or created,
# 4. the emulator started in the background (state in .emulator-data/), stopped at the end,
# 5. `pulumi up --yes`, then the stack outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV_BIN=$ROOT/.venv/bin
STACK=${STACK:-local}
DATA_DIR=${EDGE_LABELER_EMULATOR_DATA:-$ROOT/.emulator-data}

say() { printf '==> %s\n' "$*"; }
die() { printf 'make up: %s\n' "$*" >&2; exit 1; }

# --- 1. Pulumi CLI (checked or installed by scripts/pulumi-cli.sh before the venv was built) ---
PATH=$HOME/.pulumi/bin:$PATH
command -v pulumi >/dev/null 2>&1 || die "the Pulumi CLI is missing: run \`make up\` (it installs it first)"
say "$(pulumi version) at $(command -v pulumi)"

# --- 2. file state backend, 3. stack --------------------------------------------------------
mkdir -p "$ROOT/.pulumi-state"
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state"
# The local stack's state stays on this machine; a fixed default passphrase keeps `make up`
# one command. Set PULUMI_CONFIG_PASSPHRASE to use your own.
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-edge-labeler-local}
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi stack select --create "$STACK" --non-interactive >/dev/null
say "stack $STACK (state in .pulumi-state/)"

# --- 4. the emulator ------------------------------------------------------------------------
mkdir -p "$DATA_DIR"
"$VENV_BIN/edgectl" emulator start --data-dir "$DATA_DIR" >"$DATA_DIR/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null || true; wait $EMULATOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if env_lines=$("$VENV_BIN/edgectl" emulator env --data-dir "$DATA_DIR" 2>/dev/null); then break; fi
  kill -0 $EMULATOR_PID 2>/dev/null || die "the emulator stopped; see $DATA_DIR/emulator.log"
  sleep 0.5
done
[ -n "${env_lines:-}" ] || die "the emulator did not become ready in 60 s; see $DATA_DIR/emulator.log"
while IFS= read -r line; do export "${line?}"; done <<<"$env_lines"
say "emulator ready (state in ${DATA_DIR#"$ROOT"/}/):"
printf '    %s\n' $env_lines

# --- 5. reconcile ---------------------------------------------------------------------------
pulumi up --yes --stack "$STACK" --skip-preview
say "outputs of stack $STACK:"
pulumi stack output --stack "$STACK" --json
