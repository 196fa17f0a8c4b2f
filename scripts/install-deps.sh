#!/usr/bin/env bash
# Installs the Debian 12 packages Coffer needs to build and test. Idempotent: packages that
# are already installed are left alone, and apt is not touched at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libsodium-dev           # crypto primitives (XChaCha20-Poly1305, Ed25519, X25519, BLAKE2b, Argon2id)
  libssl-dev              # OpenSSL 3: TLS, SHA-256, HMAC, HKDF, AES-GCM
  libsqlite3-dev sqlite3  # embedded metadata store and the per-device state DB
  libpq-dev               # PostgreSQL metadata store (scale-out engine)
  libcurl4-openssl-dev    # client HTTP transport
  libboost1.81-dev        # Boost.Beast/Asio HTTP server
  nlohmann-json3-dev      # JSON for the API
  libcli11-dev            # command-line parsing
  libgtest-dev libgmock-dev libbenchmark-dev  # tests and micro-benchmarks
  python3 ca-certificates
  haproxy curl            # scripts/cluster.sh: load balancer in front of several coffer-server instances
  clang libclang-rt-14-dev  # fuzz/run.sh: libFuzzer targets need clang and its fuzzer/sanitizer runtime
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "coffer: all build dependencies are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "coffer: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
