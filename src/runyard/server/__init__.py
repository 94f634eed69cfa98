"""`runyard server`: one workspace served to many machines on one port (team mode).

MLflow's tracking and model registry API and UI, and runyard's own API (app.py, api.py),
behind one workspace token (auth.py). Clients reach it through client.py.
"""

API_PREFIX = "/api/runyard/v1"  # runyard's routes; everything else on the port is MLflow's

# Artifact bytes go through the server: MLflow would otherwise hand clients and jobs presigned
# URLs of the object store, which they may not be able to reach.
THROUGH_THE_PROXY = {"MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
                     "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false"}
