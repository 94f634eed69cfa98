#!/usr/bin/env bash
# Set up this checkout, then train the demo digit classifier through runyard on the default
# workspace (~/.runyard, or $RUNYARD_HOME): real handwritten digits, no internet needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
.venv/bin/python examples/digits/make_data.py examples/digits/data
.venv/bin/runyard run --experiment digits examples/digits/tf_mnist.py \
  --data-folder data --epochs "${EPOCHS:-10}"
echo
echo "Browse the run:       .venv/bin/runyard ui"
echo "Download the model:   .venv/bin/runyard runs download <RUN_ID> --prefix outputs/model"
