# Shared by the scripts: install missing Debian/Ubuntu packages (with sudo
# when not root), and the package lists each task needs.

# What the desktop app needs to build (Tauri 2 on Linux).
# (patch: scripts/patch-deps applies our fixes to dependencies.)
APP_PACKAGES=(build-essential pkg-config curl wget file libssl-dev libxdo-dev
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev patch)
# What the test suite needs beyond a Rust toolchain and the app's packages
# (iproute2: the gathering-room test builds network namespaces when run as
# root; age: the backup test opens a backup with the standard age tool;
# xvfb and webkit2gtk-driver: the desktop end-to-end test drives the real
# window in a virtual display; dbus: its private session bus, on which the
# app's notifications are recorded; gnome-keyring: the Secret Service the
# app keeps a passphrase in, on that bus).
TEST_PACKAGES=(iproute2 age xvfb webkit2gtk-driver dbus gnome-keyring)

# The version of tauri-driver the desktop end-to-end test runs.
TAURI_DRIVER_VERSION=2.1.0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: installs those not installed yet.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
}

# ensure_tauri_driver: installs tauri-driver (WebDriver for Tauri apps)
# from crates.io unless this version is installed.
ensure_tauri_driver() {
  if ! cargo install --list | grep -q "^tauri-driver v${TAURI_DRIVER_VERSION}:"; then
    cargo install --locked tauri-driver --version "${TAURI_DRIVER_VERSION}"
  fi
}

# build_ui: installs the UI's npm packages exactly as locked and builds it.
build_ui() {
  (cd ui && npm ci --no-audit --no-fund && npm run build)
}

# The version of cargo-fuzz the fuzz targets are built and run with.
CARGO_FUZZ_VERSION=0.13.1

# ensure_cargo_fuzz: installs cargo-fuzz from crates.io unless this version
# is installed.
ensure_cargo_fuzz() {
  if ! cargo install --list | grep -q "^cargo-fuzz v${CARGO_FUZZ_VERSION}:"; then
    cargo install --locked cargo-fuzz --version "${CARGO_FUZZ_VERSION}"
  fi
}
