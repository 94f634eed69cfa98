"""Train a digit classifier with Keras; log with the Azure ML v1 Run API (runyard).

The same script runs under Azure ML after changing `runyard` back to `azureml` in the import.
"""

import argparse
import glob
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from utils import load_data  # noqa: E402

from runyard.core import Run  # noqa: E402  (Azure ML: from azureml.core import Run)

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder", default="data",
                    help="folder with the MNIST-format .gz files")
parser.add_argument("--batch-size", type=int, dest="batch_size", default=64)
parser.add_argument("--first-layer-neurons", type=int, dest="n_hidden_1", default=128)
parser.add_argument("--second-layer-neurons", type=int, dest="n_hidden_2", default=128)
parser.add_argument("--learning-rate", type=float, dest="learning_rate", default=0.001)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()


def find(pattern):
    # Mounted datasets may nest the files: look for them anywhere under the data folder.
    found = glob.glob(os.path.join(args.data_folder, "**", pattern), recursive=True)
    if not found:
        raise FileNotFoundError(f"{pattern} not found under {args.data_folder}")
    return found[0]


X_train = load_data(find("train-images-idx3-ubyte.gz")) / 255.0
y_train = load_data(find("train-labels-idx1-ubyte.gz"), label=True).reshape(-1)
X_test = load_data(find("t10k-images-idx3-ubyte.gz")) / 255.0
y_test = load_data(find("t10k-labels-idx1-ubyte.gz"), label=True).reshape(-1)
print(f"{X_train.shape[0]} training and {X_test.shape[0]} test images", flush=True)

run = Run.get_context()

model = tf.keras.Sequential([
    tf.keras.Input(shape=(784,), name="pixels"),
    tf.keras.layers.Dense(args.n_hidden_1, activation="relu"),
    tf.keras.layers.Dense(args.n_hidden_2, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=tf.keras.optimizers.Adam(args.learning_rate),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class LogRunMetrics(tf.keras.callbacks.Callback):
    """Log every epoch's metrics to the run, as the Azure ML Keras sample does."""

    def on_epoch_end(self, epoch, logs=None):
        run.log("training_acc", float(logs["accuracy"]))
        run.log("validation_acc", float(logs["val_accuracy"]))
        run.log("loss", float(logs["loss"]))


start = time.perf_counter()
history = model.fit(X_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                    validation_data=(X_test, y_test), callbacks=[LogRunMetrics()], verbose=2)
print(f"Training time: {(time.perf_counter() - start) * 1000:.0f} ms")

loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
run.log("final_acc", float(accuracy))
run.log("final_loss", float(loss))
print(f"Test accuracy: {accuracy:.4f}")

plt.figure(figsize=(6, 3))
plt.title("Accuracy vs loss")
plt.plot(history.history["val_accuracy"], "b-", label="validation accuracy")
plt.plot(history.history["loss"], "r--", label="loss")
plt.legend()
run.log_image("Accuracy vs Loss", plot=plt)

# A TensorFlow SavedModel (serving signature "serving_default"), uploaded with ./outputs.
os.makedirs("./outputs", exist_ok=True)
model.export("./outputs/model")
predictions = np.argmax(model.predict(X_test[:10], verbose=0), axis=1)
print("First predictions:", predictions.tolist(), "labels:", y_test[:10].tolist())
