#!/usr/bin/env bash
# Runs Signet's whole test suite: unit tests, integration tests against the real `signet`
# binary, and the oracles they call (openssl, pkilint). Installs what the tests need:
#   - openssl (Debian package) if it is missing,
#   - groff-base (Debian package) if it is missing, the man pages' formatter,
#   - faketime (Debian package, libfaketime) if it is missing, for the clock-jump tests,
#   - sqlite3 and e2fsprogs (Debian packages) if they are missing, for the disk fault tests
#     (integrity_check, mkfs.ext4, e2fsck),
#   - slapd and ldap-utils (Debian packages) if they are missing, for the ldap exit tests,
#   - pkilint into a virtualenv at $SIGNET_VENV (default: .venv in the checkout),
#   - aiosmtpd into the same virtualenv (the SMTP sink of the `smtp` exit module's tests),
#   - pebble (Debian package: pebble-challtestsrv, the ACME tests' mock DNS server) and lego
#     (Debian package), and certbot into the same virtualenv, for the ACME client tests,
#   - curl, default-jdk-headless and Bouncy Castle (Debian packages libbcprov-java,
#     libbcpkix-java, libbcutil-java) for the EST client tests,
#   - chromium (Debian package) and playwright-core (npm, pinned by package-lock.json; it
#     never downloads a browser) for the web pages' browser tests, and node's test runner for
#     the in-browser crypto library's tests.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v openssl >/dev/null 2>&1; then
  echo "scripts/test.sh: installing openssl" >&2
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi

# libfaketime moves the wall clock of a real `signet serve` (crates/signet-cli/tests/clock.rs).
if ! [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]; then
  echo "scripts/test.sh: installing faketime" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
fi

# The disk fault tests (crates/signet-cli/tests/faults.rs) check the database with the
# sqlite3 shell and build and repair an ext4 image.
for tool in sqlite3:sqlite3 mkfs.ext4:e2fsprogs e2fsck:e2fsprogs; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "scripts/test.sh: installing ${tool#*:}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
  fi
done

# groff formats the man pages in docs/man without a warning (crates/signet-cli/tests/cli_docs.rs).
if ! command -v groff >/dev/null 2>&1; then
  echo "scripts/test.sh: installing groff-base" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq groff-base >/dev/null
fi

# The ldap exit module's tests start their own slapd (on a free loopback port, with a temp
# config); they neither use nor stop a system slapd the package may have started.
if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1; then
  echo "scripts/test.sh: installing slapd and ldap-utils" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >/dev/null
fi

# The ACME client tests (crates/signet-cli/tests/acme_clients.rs) run lego and use
# pebble-challtestsrv as the DNS server validation asks; certbot goes into the venv below.
if [ ! -x /usr/bin/pebble-challtestsrv ]; then
  echo "scripts/test.sh: installing pebble (for pebble-challtestsrv)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
fi
if ! command -v lego >/dev/null 2>&1; then
  echo "scripts/test.sh: installing lego" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lego >/dev/null
fi

# The SCEP tests (crates/signet-cli/tests/scep.rs) run micromdm's scepclient (Debian `scep`)
# and certmonger (its scep-submit helper), each against the real server.
if ! command -v scepclient >/dev/null 2>&1; then
  echo "scripts/test.sh: installing scep (scepclient)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq scep >/dev/null
fi
if [ ! -x /usr/lib/certmonger/scep-submit ]; then
  echo "scripts/test.sh: installing certmonger" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certmonger >/dev/null
fi
# The EST tests (crates/signet-cli/tests/est.rs) drive curl and Bouncy Castle's EST client
# (tests/est/EstClient.java, compiled by the test with javac).
if ! command -v curl >/dev/null 2>&1; then
  echo "scripts/test.sh: installing curl" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
if ! command -v javac >/dev/null 2>&1; then
  echo "scripts/test.sh: installing default-jdk-headless" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless >/dev/null
fi
for pkg in libbcprov-java libbcpkix-java libbcutil-java; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    echo "scripts/test.sh: installing $pkg" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
done

# The PKCS#11 tests use SoftHSM2 tokens, checked with OpenSC's pkcs11-tool.
if ! [ -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v pkcs11-tool >/dev/null 2>&1; then
  echo "scripts/test.sh: installing softhsm2 opensc" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 opensc >/dev/null
fi

# The PostgreSQL backend's tests (signet-testkit's PgCluster) start real PostgreSQL clusters
# from Debian's package, as the `postgres` user, on loopback.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "scripts/test.sh: installing postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The web pages' end-to-end tests drive Debian's chromium with playwright-core.
# Only what is missing: Debian's npm conflicts with a nodejs from NodeSource (which ships
# its own npm), so asking for all three at once fails on machines that have that nodejs.
if [ ! -x /usr/bin/chromium ]; then
  echo "scripts/test.sh: installing chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "scripts/test.sh: installing nodejs and npm" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
# npm ci: exactly what package-lock.json pins (a second or two when the npm cache has it).
(cd crates/signet-cli/tests/web && npm ci --no-audit --no-fund --loglevel=error)

venv="${SIGNET_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/lint_pkix_cert" ]; then
  echo "scripts/test.sh: installing pkilint into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pkilint==0.13.3' 'cryptography>=47'
fi
if ! "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing aiosmtpd into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6'
fi
if [ ! -x "$venv/bin/certbot" ]; then
  echo "scripts/test.sh: installing certbot into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'certbot==5.8.0'
fi
export SIGNET_PKILINT_BIN="$venv/bin"
# The python that runs the aiosmtpd sink in crates/signet-cli/tests/exit_smtp.rs.
export SIGNET_PYTHON="$venv/bin/python"
# The venv's python has `cryptography` (a pkilint dependency, with ML-DSA): the ML-DSA key
# tests use it as their oracle. Every oracle is required (tests/common/oracle.rs): a missing
# one fails the run unless SIGNET_SKIP_ORACLES names it. The venv's bin on PATH also gives
# the ACME tests their `certbot`.
export PATH="$venv/bin:$PATH"

cargo test --workspace --release --locked "$@"
