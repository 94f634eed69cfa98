"""v1 `azureml.telemetry`: runyard sends nothing anywhere, so there is nothing to switch on or
off; the call is accepted so that v1 notebooks run unchanged."""


def set_diagnostics_collection(send_diagnostics=True, path=None, reset=False) -> None:
    """Accepted and ignored: runyard collects no diagnostics and has no telemetry."""


__all__ = ["set_diagnostics_collection"]
