#!/usr/bin/env bash
# Builds Signet's WebAssembly modules (the examples here and the test modules in
# crates/signet-cli/tests/wasm) from their WebAssembly text sources into components of the
# worlds in crates/signet-wasm/wit/signet.wit. The built .wasm files are committed beside
# their sources; run this after changing a source or the WIT, and commit the result.
# Needs wasm-tools (from crates.io):
#   cargo install wasm-tools --locked --no-default-features --features component,parse,print,validate
set -euo pipefail
cd "$(dirname "$0")/../.."
wit=crates/signet-wasm/wit
build() { # source.wat world output.wasm
  local core
  core=$(mktemp --suffix=.wasm)
  wasm-tools component embed "$wit" --world "$2" "$1" -o "$core"
  wasm-tools component new "$core" -o "$3"
  wasm-tools validate --features component-model "$3"
  rm -f "$core"
  echo "built $3 ($(wc -c <"$3") bytes)"
}
build examples/wasm/ticket-policy.wat policy examples/wasm/ticket-policy.wasm
build examples/wasm/log-exit.wat exit examples/wasm/log-exit.wasm
build crates/signet-cli/tests/wasm/misbehave.wat policy crates/signet-cli/tests/wasm/misbehave.wasm
build crates/signet-cli/tests/wasm/flaky-exit.wat exit crates/signet-cli/tests/wasm/flaky-exit.wasm
