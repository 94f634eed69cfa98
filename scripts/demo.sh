#!/usr/bin/env bash
# Set up this checkout, then train the demo digit classifier through runyard on the default
# workspace (~/.runyard, or $RUNYARD_HOME): real handwritten digits, no internet needed.
# Then register the trained model, serve it over HTTP, and score test digits with it; then
# tune it with a small HyperDrive sweep and serve the best trial's model the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
.venv/bin/python examples/digits/make_data.py examples/digits/data
.venv/bin/runyard run --experiment digits examples/digits/tf_mnist.py \
  --data-folder data --epochs "${EPOCHS:-10}"
echo
cd examples/digits
../../.venv/bin/python deploy.py --data-folder data ${KEEP_SERVICE:+--keep}
echo
../../.venv/bin/python sweep.py --data-folder data --trials "${TRIALS:-4}" ${KEEP_SERVICE:+--keep}
echo
echo "Browse the run and the registered model:  .venv/bin/runyard ui"
echo "Keep the service running next time:       KEEP_SERVICE=1 bash scripts/demo.sh"
