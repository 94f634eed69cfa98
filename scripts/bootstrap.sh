#!/usr/bin/env bash
# Set up this checkout on a fresh machine: a virtual environment in .venv with runyard
# (editable), the MLflow UI, TensorFlow (CPU) + tf-keras, S3 access, the model server, Ray,
# the team server's PostgreSQL driver and the test tools; OpenMPI, PostgreSQL and Chromium
# (for the browser tests) from apt.
# Idempotent: a second call with nothing changed returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${RUNYARD_PYTHON:-$(command -v python3.11 || command -v python3)}
stamp=.venv/.bootstrap-stamp
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/runyard ]; then
  exit 0
fi

# apt_install WHAT PURPOSE PACKAGE...: install Debian packages when root on Debian, else warn.
apt_install() {
  local what=$1 purpose=$2
  shift 2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[bootstrap] installing $what (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "[bootstrap] warning: $what not found; $purpose (apt-get install $*)" >&2
  fi
}

# OpenMPI for MPI jobs (mpirun, and the headers mpi4py may build against).
command -v mpirun >/dev/null 2>&1 ||
  apt_install OpenMPI "MPI jobs need it" openmpi-bin libopenmpi-dev
# PostgreSQL for team mode (`runyard server --backend-store-uri postgresql://...`); the tests
# start their own throwaway cluster with its initdb.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 ||
  apt_install PostgreSQL "team-mode tests need it" postgresql
# Chromium and its WebDriver for the web UI's browser tests (tests/test_browser.py).
{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } ||
  apt_install "Chromium and chromium-driver" "the browser tests need them" chromium chromium-driver
# npm fetches the notebook widgets' HTML renderer for the rendered-notebook test (nbconvert's
# page otherwise loads it from a CDN): tests/test_notebook.py.
command -v npm >/dev/null 2>&1 ||
  apt_install npm "the rendered-notebook test needs it" npm

if ! command -v uv >/dev/null 2>&1; then
  echo "[bootstrap] installing uv"
  "$python" -m pip install --quiet uv
fi
uv=$(command -v uv || echo "$("$python" -m site --user-base)/bin/uv")

[ -x .venv/bin/python ] || "$uv" venv --quiet --python "$python" .venv
echo "[bootstrap] installing runyard and its dependencies into .venv"
"$uv" pip install --quiet --python .venv/bin/python -e ".[ui,tensorflow,dev,mpi,data,serving,cluster,server,tuning,notebook]"
# tf-keras (Keras 2, for distributed TensorFlow jobs) must match TensorFlow's minor version,
# and is installed without its dependencies: they would pull the full `tensorflow` package.
tf_minor=$(.venv/bin/python -c "import importlib.metadata as m; print('.'.join(m.version('tensorflow-cpu').split('.')[:2]))")
"$uv" pip install --quiet --python .venv/bin/python --no-deps "tf-keras~=${tf_minor}.0"
# The widget renderer a notebook rendered to HTML loads (kept in .venv, found by the tests).
renderer=.venv/share/runyard-tests/widget-renderer
if [ ! -f "$renderer/embed-amd.js" ] && command -v npm >/dev/null 2>&1; then
  echo "[bootstrap] fetching the notebook widget renderer (npm)"
  mkdir -p "$renderer/pack"
  (cd "$renderer/pack" && npm pack --silent @jupyter-widgets/html-manager@1 requirejs@2.3.7 >/dev/null \
    && for t in *.tgz; do tar xzf "$t" && mv package "${t%.tgz}"; done)
  cp -r "$renderer"/pack/jupyter-widgets-html-manager-*/dist/. "$renderer/"
  cp "$renderer"/pack/requirejs-*/require.js "$renderer/require.js"
  rm -rf "$renderer/pack"
fi
# Byte-compile once: imports stay fast even where PYTHONDONTWRITEBYTECODE is set.
echo "[bootstrap] byte-compiling"
.venv/bin/python -m compileall -q -j 0 .venv/lib/python*/site-packages src >/dev/null 2>&1 || true
echo "$want" > "$stamp"
echo "[bootstrap] done: $(.venv/bin/runyard --version)"
