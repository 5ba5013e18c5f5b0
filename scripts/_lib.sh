# Shared by scripts/demo, scripts/test and .ci/run: find or install uv, pinned.
# shellcheck shell=bash

UV_VERSION="0.13.9"

# Sets UV to a working uv binary. A machine with only Python 3.11 gets a private copy in
# .tools/ (git-ignored), so nothing is installed system-wide.
ensure_uv() {
    if command -v uv >/dev/null 2>&1; then
        UV="$(command -v uv)"
    elif [[ -x .tools/bin/uv ]]; then
        UV="$PWD/.tools/bin/uv"
    else
        echo "==> uv not found; installing uv==$UV_VERSION into .tools/"
        python3 -m venv .tools
        .tools/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
        UV="$PWD/.tools/bin/uv"
    fi
    export UV
}

# The project's virtualenv, where `uv sync` puts the console scripts.
venv_bin() {
    echo "${UV_PROJECT_ENVIRONMENT:-$PWD/.venv}/bin"
}
