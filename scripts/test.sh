#!/usr/bin/env bash
# The whole test suite: unit, language server, panel (headless Chromium), real-kernel probes and
# helper, the kernel matrix (Debian kernels under qemu), engine integration, SSH (real sshd on
# 127.0.0.1) and end to end in a real VS Code (code-server). Kernel, matrix, SSH and e2e tests need
# root (they load BPF and create users/namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s typecheck

suites=(test/unit test/lsp test/webview test/kernel test/matrix test/integration test/ssh test/e2e)
if [ -n "${NSLAT_TEST_SUITES:-}" ]; then read -r -a suites <<<"${NSLAT_TEST_SUITES}"; fi
if printf '%s\n' "${suites[@]}" | grep -qx test/e2e; then bash scripts/install-code-server.sh; fi
if printf '%s\n' "${suites[@]}" | grep -qx test/matrix; then bash scripts/kernels.sh; fi

files=()
for d in "${suites[@]}"; do
  for f in "$d"/*.test.ts; do [ -e "$f" ] && files+=("$f"); done
done
if [ ${#files[@]} -eq 0 ]; then echo "test: no *.test.ts in ${suites[*]} (NSLAT_TEST_SUITES takes directories such as \"test/unit test/e2e\")" >&2; exit 2; fi
mkdir -p test-results
# One runner for all suites, one at a time (kernel and SSH tests share the machine's BPF and users).
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
