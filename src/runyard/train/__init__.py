"""v1 `azureml.train`: the deprecated estimators and HyperDrive."""
