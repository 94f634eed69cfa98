"""A Horovod job with tf.keras, launched by mpirun. Needs an environment with Horovod, e.g.:

    env = Environment("horovod")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["tensorflow-cpu==2.13.1", "horovod==0.28.1"], python_version="3.11")
    ScriptRunConfig(..., environment=env, distributed_job_config=MpiConfiguration(process_count_per_node=2))

Horovod's last release (0.28.1) builds unpatched only against TensorFlow <= 2.13; runyard
builds it against the environment's TensorFlow with MPI support (once; uv caches the build).
"""

import horovod.tensorflow.keras as hvd
import numpy as np
import tensorflow as tf

from runyard.core import Run

hvd.init()
rng = np.random.default_rng(hvd.rank())
x = rng.random((512, 8)).astype("float32")
y = (x.sum(axis=1) > 4).astype("int32")

model = tf.keras.Sequential([
    tf.keras.layers.Dense(16, activation="relu", input_shape=(8,)),
    tf.keras.layers.Dense(2, activation="softmax"),
])
optimizers = getattr(tf.keras.optimizers, "legacy", tf.keras.optimizers)
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              optimizer=hvd.DistributedOptimizer(optimizers.Adam(0.001 * hvd.size())))
history = model.fit(x, y, batch_size=64, epochs=2, verbose=2 if hvd.rank() == 0 else 0,
                    callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                               hvd.callbacks.MetricAverageCallback()])
print(f"horovod rank {hvd.rank()} of {hvd.size()}: done", flush=True)
if hvd.rank() == 0:
    Run.get_context().log("loss", float(history.history["loss"][-1]))
