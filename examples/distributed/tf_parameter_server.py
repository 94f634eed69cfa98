"""Keras training with TF2's ParameterServerStrategy: a chief (coordinator) that runs
model.fit, workers and parameter servers that serve until the chief is done. Submit with:

    runyard run --workers 2 --ps 1 --chief tf_parameter_server.py
    # or: TensorflowConfiguration(worker_count=2, parameter_server_count=1, chief=True)

The run ends when the chief ends; runyard then stops the workers and parameter servers.
Needs tf-keras (TF_USE_LEGACY_KERAS=1, set by runyard): Keras 3 has no parameter-server support.
"""

import argparse
import os

import numpy as np
import tensorflow as tf

from runyard.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--steps-per-epoch", type=int, default=10)
args = parser.parse_args()

resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
if resolver.task_type in ("worker", "ps"):
    os.environ["GRPC_FAIL_FAST"] = "use_caller"
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol="grpc", start=True)
    print(f"{resolver.task_type} {resolver.task_id}: serving", flush=True)
    server.join()

strategy = tf.distribute.ParameterServerStrategy(resolver)
run = Run.get_context()


def dataset_fn(input_context):
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    data = tf.data.Dataset.from_tensor_slices((images.astype(np.float32) / 16.0, labels))
    return data.shuffle(2000).batch(64).repeat().prefetch(2)


with strategy.scope():
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(64, activation="relu", input_shape=(64,)),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class Report(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        run.log("loss", float(logs["loss"]))


model.fit(tf.keras.utils.experimental.DatasetCreator(dataset_fn), epochs=args.epochs,
          steps_per_epoch=args.steps_per_epoch, callbacks=[Report()], verbose=2)
print("chief: done", flush=True)
