"""Tune the digit classifier with HyperDrive, then serve the best trial's model: the Azure ML
v1 sweep flow, with `runyard` in place of `azureml` in the imports.

    python sweep.py [--data-folder data] [--trials 4] [--epochs 2] [--keep]
"""

import argparse

from deploy import serve_and_score

# Azure ML: from azureml.core import ...; from azureml.train.hyperdrive import ...
from runyard.core import Experiment, ScriptRunConfig, Workspace
from runyard.train.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", default="data")
parser.add_argument("--trials", type=int, default=4)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

ws = Workspace.from_config()
src = ScriptRunConfig(source_directory=".", script="tf_mnist.py",
                      arguments=["--data-folder", args.data_folder, "--epochs", args.epochs])
sampling = RandomParameterSampling({
    "--learning-rate": loguniform(-6, -1),           # e^-6 .. e^-1: about 0.0025 to 0.37
    "--first-layer-neurons": choice(32, 64, 128),
    "--batch-size": choice(32, 64),
})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=sampling,
                          policy=BanditPolicy(evaluation_interval=1, slack_factor=0.2, delay_evaluation=1),
                          primary_metric_name="validation_acc",
                          primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_total_runs=args.trials, max_concurrent_runs=2)
sweep = Experiment(ws, "digits-sweep").submit(config)
print(f"Sweep {sweep.id}: {args.trials} trials, 2 at a time")
sweep.wait_for_completion(show_output=True)

for row in sweep.get_children_sorted_by_primary_metric():
    print(f"  {row['run_id']}  {row['status']:<9}  validation_acc {row['best_primary_metric']}  "
          f"{row['hyperparameters']}")
best = sweep.get_best_run_by_primary_metric()
if best is None or best.get_status() != "Completed":
    raise SystemExit("No trial completed with a validation accuracy: see the sweep's output above.")
print(f"Best trial: {best.id}")
serve_and_score(ws, best, "tf-mnist-tuned", "tensorflow-tuned-service", args.data_folder, args.keep)
