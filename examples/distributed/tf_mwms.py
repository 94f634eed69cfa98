"""Keras training with MultiWorkerMirroredStrategy: one process per worker, each with the
TF_CONFIG runyard (or Azure ML) sets. Submit with:

    runyard run --workers 2 tf_mwms.py --epochs 3
    # or: ScriptRunConfig(..., distributed_job_config=TensorflowConfiguration(worker_count=2,
    #                                                                  parameter_server_count=0))

runyard sets TF_USE_LEGACY_KERAS=1 when tf-keras is installed: Keras 3 cannot `fit` under
this strategy. Saving is collective: every worker saves, the chief (worker 0) to ./outputs.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from runyard.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--steps-per-epoch", type=int, default=20)
parser.add_argument("--fail-rank", type=int, default=-1, help="testing: this rank dies ...")
parser.add_argument("--fail-at-epoch", type=int, default=-1, help="... at the end of this epoch")
args = parser.parse_args()

task = json.loads(os.environ["TF_CONFIG"])["task"]
is_chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0)
rank = int(os.environ.get("RANK", "0"))
run = Run.get_context()

strategy = tf.distribute.MultiWorkerMirroredStrategy()
print(f"{task['type']} {task['index']}: {strategy.num_replicas_in_sync} replicas", flush=True)

images, labels = load_digits(return_X_y=True)
dataset = tf.data.Dataset.from_tensor_slices((images.astype(np.float32) / 16.0, labels))
dataset = dataset.shuffle(2000, seed=0).batch(64).repeat()

with strategy.scope():
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(64, activation="relu", input_shape=(64,)),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class Report(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if is_chief:
            run.log("loss", float(logs["loss"]))
            run.log("accuracy", float(logs["accuracy"]))
        if rank == args.fail_rank and epoch + 1 == args.fail_at_epoch:
            print(f"rank {rank}: dying on purpose at {time.time():.3f}", flush=True)
            os.kill(os.getpid(), 9)


model.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, callbacks=[Report()],
          verbose=2 if is_chief else 0)
model.save("./outputs/model" if is_chief else tempfile.mkdtemp())
print(f"{task['type']} {task['index']}: done", flush=True)
