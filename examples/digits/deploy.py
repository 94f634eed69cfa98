"""Register the model of the latest completed `digits` run, serve it, and score test digits:
the Azure ML v1 model flow, with `runyard` in place of `azureml` in the imports.

    python deploy.py [--data-folder data] [--keep]    # --keep leaves the service running
"""

import argparse
import json
import os

import numpy as np
from utils import load_data

from runyard.core import Experiment, Model, Workspace  # Azure ML: from azureml.core import ...
from runyard.core.resource_configuration import ResourceConfiguration


def serve_and_score(ws, run, model_name: str, service_name: str, data_folder: str, keep: bool) -> None:
    """Register the run's SavedModel, deploy it without code, score 30 test digits."""
    model = run.register_model(model_name=model_name, model_path="outputs/model",
                               model_framework=Model.Framework.TENSORFLOW,
                               model_framework_version="2.0",
                               resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))
    print(f"Registered model {model.name} version {model.version} from run {run.id}")

    # No-code deployment: the SavedModel is served with TensorFlow Serving's REST API.
    service = Model.deploy(ws, service_name, [model], overwrite=True)
    service.wait_for_deployment(show_output=False)
    print(f"Service {service.name} is {service.state} at {service.scoring_uri}")

    images = load_data(os.path.join(data_folder, "t10k-images-idx3-ubyte.gz")) / 255.0
    labels = load_data(os.path.join(data_folder, "t10k-labels-idx1-ubyte.gz"), label=True).reshape(-1)
    test_images = images[:30].tolist()
    result = service.run(json.dumps({"instances": test_images}))
    predicted = np.argmax(result["predictions"], axis=1)
    print("Predicted:", predicted.tolist())
    print("Labels:   ", labels[:30].tolist())
    print(f"{(predicted == labels[:30]).mean():.0%} of 30 test digits right")

    if keep:
        print(f"The service keeps running: runyard endpoint invoke {service.name} --data '...'; "
              f"runyard endpoint delete {service.name}")
    else:
        service.delete()
        print(f"Deleted service {service.name} (pass --keep to leave it running)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-folder", default="data")
    parser.add_argument("--keep", action="store_true", help="leave the service running")
    args = parser.parse_args()

    ws = Workspace.from_config()
    run = next((r for r in Experiment(ws, "digits").get_runs() if r.get_status() == "Completed"), None)
    if run is None:
        raise SystemExit("No completed run in experiment 'digits': train first (scripts/demo.sh).")
    serve_and_score(ws, run, "tf-mnist", "tensorflow-web-service", args.data_folder, args.keep)
