#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (and its driver; no CUDA toolkit needed): show runyard using
# it end to end, in a workspace of its own.
#   1. build the GPU environment (runyard-tensorflow-2.21-gpu: TensorFlow with CUDA from PyPI)
#      and train the demo digit classifier on the GPU through runyard: TensorFlow's device
#      placement in the run's output, and the GPU's use in the run's system metrics;
#   2. start two runs at once on one GPU: the second waits Queued until the first is done;
#   3. deploy the trained model and score test digits with it, the endpoint server on the GPU.
# Prints PASS/FAIL per check; exits 1 if one failed, 2 on a machine without an NVIDIA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh
work=$(mktemp -d /tmp/runyard-gpu-check.XXXX)
export RUNYARD_HOME="$work/home" TMPDIR="$work/tmp" KERAS_HOME="$work/keras" TF_CPP_MIN_LOG_LEVEL=1
mkdir -p "$TMPDIR"
py=.venv/bin/python
runyard=.venv/bin/runyard

if ! $py -c "from runyard import gpus; import sys; [print(g.label) for g in gpus.available()]; sys.exit(0 if gpus.present() else 2)"; then
  echo "No NVIDIA GPU found through NVML on this machine: nothing to check." >&2
  rm -rf "$work"
  exit 2
fi
nvidia-smi || true

# The endpoint server runs in runyard's own interpreter: give it TensorFlow's GPU build.
tf=$($py -c "import tensorflow as tf; print(tf.__version__)")
.venv/bin/uv pip install --quiet --python $py "tensorflow[and-cuda]==$tf"

$py examples/digits/make_data.py examples/digits/data
mkdir -p "$work/src"
cat > "$work/src/placement_check.py" <<'EOF'
import tensorflow as tf
tf.debugging.set_log_device_placement(True)
print("GPUs seen by TensorFlow:", tf.config.list_physical_devices("GPU"))
print(tf.linalg.matmul(tf.random.normal((512, 512)), tf.random.normal((512, 512))).device)
EOF

echo "== 1. the GPU environment, and training on the GPU"
$runyard run --env runyard-tensorflow-2.21-gpu -e gpu-check "$work/src/placement_check.py"
$runyard run --env runyard-tensorflow-2.21-gpu -e digits examples/digits/tf_mnist.py \
  --data-folder data --epochs 5

echo "== 2. two runs at once on one GPU"
cat > "$work/src/hold_gpu.py" <<'EOF'
import time, tensorflow as tf
a = tf.random.normal((2048, 2048))
end = time.time() + 20
while time.time() < end:
    a = tf.linalg.matmul(a, a) / 2048.0
print("held the GPU on", a.device)
EOF
first=$($runyard run --detach --env runyard-tensorflow-2.21-gpu -e gpu-check "$work/src/hold_gpu.py")
sleep 2
second=$($runyard run --detach --env runyard-tensorflow-2.21-gpu -e gpu-check "$work/src/hold_gpu.py")

echo "== 3. deploy on the GPU and score"
(cd examples/digits && ../../$py deploy.py --data-folder data --keep)

$py - "$first" "$second" <<'EOF'
import subprocess, sys, time
import mlflow
from runyard.core import Experiment, Run, Webservice, Workspace

ws = Workspace.from_config()
failed = []

def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + (f": {detail}" if detail else ""))
    if not ok:
        failed.append(what)

placement = next(r for r in Experiment(ws, "gpu-check").get_runs() if r.get_status() == "Completed"
                 and "GPUs seen" in r._paths.std_log.read_text())
log = placement._paths.std_log.read_text()
check("TensorFlow sees the GPU in a run", "PhysicalDevice(name='/physical_device:GPU:0'" in log)
check("TensorFlow placed the matmul on the GPU", "device:GPU:0" in log.splitlines()[-1], log.splitlines()[-1])

train = next(r for r in Experiment(ws, "digits").get_runs() if r.get_status() == "Completed")
details = train.get_details()
check("the run names its GPU", any(d.startswith("GPU ") for d in details["devices"]), details["devices"])
history = mlflow.MlflowClient(ws.get_mlflow_tracking_uri())
points = [m.value for m in history.get_metric_history(details["properties"]["mlflow.runId"],
                                                      "system/gpu_0_utilization_percentage")]
check("the run's system metrics show the GPU busy", bool(points) and max(points) > 0,
      f"{len(points)} samples, peak {max(points or [0])}%")
print(subprocess.run([".venv/bin/runyard", "runs", "show", train.id], capture_output=True, text=True).stdout)

first, second = Run.get(ws, sys.argv[1]), Run.get(ws, sys.argv[2])
for run in (first, second):
    run.wait_for_completion(raise_on_error=False)
said = second._paths.preparing_log.read_text()
check("the second run waited for the GPU", f"held by {first.id}" in said,
      next((line for line in said.splitlines() if "waiting for" in line), "no waiting line"))
check("the second run started after the first ended",
      second._refresh()["start_time"] >= first._refresh()["end_time"])

service = Webservice(ws, "tensorflow-web-service")
apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                      capture_output=True, text=True).stdout
check("the endpoint server holds GPU memory", str(service.serialize()["pid"]) in apps, apps.strip())
service.delete()
sys.exit(1 if failed else 0)
EOF
