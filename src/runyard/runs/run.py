"""Run: one submitted job, seen from the client and from inside the job (SDK v1 API)."""

from __future__ import annotations

import builtins
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard import settings
from runyard.errors import (
    ActivityFailedException,
    ExperimentExecutionException,
    RunEnvironmentException,
    UserErrorException,
)
from runyard.runs.follow import file_reader, follow
from runyard.runs.logging_api import LoggingMixin
from runyard.runs.paths import RunPaths
from runyard.runs.status import RunStatus

if TYPE_CHECKING:
    from runyard.workspace.workspace import Workspace

# The run of this job process. One per process, shared by all threads: a Keras callback on
# another thread must log into the same run, with the same step counters.
_context_run: Any = None  # a Run, or an OfflineRun outside a submitted run
_context_lock = threading.Lock()


class Run(LoggingMixin):
    """A run of an experiment (v1: azureml.core.Run).

    Example:
        run = Experiment(ws, "digits").submit(config)
        run.wait_for_completion(show_output=True)
        print(run.get_metrics())
    """

    def __init__(self, experiment, run_id: str, outputs=None, **kwargs):
        self.experiment = experiment
        self._ws = experiment.workspace
        record = self._ws.backend.runs.get(run_id)
        if record["experiment"] != experiment.name:
            raise UserErrorException(
                f"Run {run_id!r} belongs to experiment {record['experiment']!r}, not "
                f"{experiment.name!r}. Use Experiment(ws, {record['experiment']!r}).")
        self._id = run_id
        self._loaded = record
        self._paths = RunPaths.of(self._ws, run_id)
        self._sink = None

    # -- identity ------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    @property
    def display_name(self) -> str:
        """The run's name for people (v1: generated, `keen_otter_2gbl3gnq`, until set); the
        MLflow UI shows it as the run's name."""
        from runyard.runs import mlflow_fields

        recorded = mlflow_fields.name_of(self._refresh())
        if self._name_set in (None, recorded):  # (a name set here shows before the supervisor
            self._name_set = None               # has ingested it)
            return recorded
        return self._name_set

    @display_name.setter
    def display_name(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip() or len(value) > 250:
            raise UserErrorException(f"display_name must be a non-empty string of up to 250 characters. Received: {value!r}")
        self._emit("name", v=value.strip())
        self.flush()
        self._name_set = value.strip()

    _name_set: str | None = None

    name = display_name  # (v1: deprecated, use display_name)

    def get_portal_url(self) -> str:
        """The run's page (v1: in Azure ML studio): on the `runyard ui` serving this workspace,
        or the team server's; without one, where `runyard ui` serves by default."""
        from runyard.ui import address

        return address.run_page(self._ws, self._id)

    @property
    def type(self) -> str:
        return "azureml.scriptrun"

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def parent(self):
        parent_id = self._record.get("parent_run_id")
        return Run(self.experiment, parent_id) if parent_id else None

    @property
    def properties(self) -> dict:
        return dict(self._refresh()["properties"])

    @property
    def tags(self) -> dict:
        return dict(self._refresh()["tags"])

    def __repr__(self) -> str:
        return f"Run(experiment={self.experiment.name!r}, id={self._id!r}, status={self.get_status()!r})"

    def _repr_html_(self) -> str:
        from runyard.ui import reprs

        return reprs.run(self)

    # -- v1 class methods ----------------------------------------------------------------------
    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs):
        """Inside a submitted job: its run. Outside: an offline run that prints what it logs."""
        global _context_run
        with _context_lock:
            run_id = os.environ.get(settings.RUN_ID)
            if _context_run is not None and getattr(_context_run, "_job_run_id", None) == run_id:
                return _context_run
            if run_id:
                _context_run = cls._from_job_environment(run_id)
            elif allow_offline:
                from runyard.runs.offline import OfflineRun

                _context_run = OfflineRun()
            else:
                raise RunEnvironmentException(
                    "Run.get_context(allow_offline=False) was called outside a submitted run. "
                    "Submit the script with Experiment.submit or `runyard run`.")
            _context_run._job_run_id = run_id
            return _context_run

    @classmethod
    def _from_job_environment(cls, run_id: str) -> Run:
        """The job's own run, built from its environment variables alone: no registry read,
        so logging works in any job environment (runyard's dependencies need not be there)."""
        from runyard.runs.experiment import Experiment
        from runyard.runs.sinks import FileSink

        name = settings.workspace_name()
        if os.environ.get(settings.SERVER_URL):  # a served workspace: a client of its server,
            from runyard.workspace.remote import RemoteWorkspace  # with the run's token

            ws: Workspace = RemoteWorkspace(name, os.environ[settings.SERVER_URL], os.environ.get(settings.WORKSPACE_TOKEN))
        else:
            from runyard.workspace import Workspace

            ws = Workspace(workspace_name=name, location=os.environ[settings.WORKSPACE_DIR])
        run = cls.__new__(cls)
        run.experiment = Experiment(ws, os.environ.get(settings.EXPERIMENT) or "default",
                                    _skip_name_validation=True)
        run._ws, run._id, run._loaded = ws, run_id, None
        # Records go to the run's folder on this machine, wherever the workspace is reached.
        run._paths = RunPaths(Path(os.environ[settings.WORKSPACE_DIR]) / "runs" / run_id)
        run._sink = FileSink(Path(os.environ[settings.METRICS_DIR]), run._paths.uploads_dir)
        run._own_job = True
        return run

    @property
    def _record(self) -> dict:
        if self._loaded is None:
            self._loaded = self._ws.backend.runs.get(self._id)
        return self._loaded

    @_record.setter
    def _record(self, record: dict) -> None:
        self._loaded = record

    @classmethod
    def get(cls, workspace, run_id: str) -> Run:
        from runyard.runs.experiment import Experiment

        record = workspace.backend.runs.get(run_id)
        return _class_of(record, cls)(Experiment(workspace, record["experiment"]), run_id)

    @classmethod
    def list(cls, experiment, type=None, tags=None, properties=None, status=None,
             include_children=False):
        return experiment.get_runs(type=type, tags=tags, properties=properties,
                                   include_children=include_children, status=status)

    # -- status and details ----------------------------------------------------------------------
    def _refresh(self) -> dict:
        self._record = self._ws.backend.runs.get(self._id)
        return self._record

    def get_status(self) -> str:
        return self._refresh()["status"].value

    def get_detailed_status(self) -> dict:
        record = self._refresh()
        return {"status": record["status"].value, "details": (record.get("error") or {}).get("message")}

    def get_details(self) -> dict:
        from runyard.runs import mlflow_fields

        record = self._refresh()
        spec = record["spec"]
        details = {
            "runId": self._id,
            "target": record["target"],
            "status": record["status"].value,
            "startTimeUtc": _iso(record.get("start_time")),
            "endTimeUtc": _iso(record.get("end_time")),
            "properties": {"runyard.snapshotId": spec["snapshot_id"],
                           "mlflow.runId": record.get("mlflow_run_id"),
                           **record["properties"]},
            # what the run ran on (its supervisor's record; [] before it ran)
            "devices": [d for d in record["properties"].get(mlflow_fields.DEVICES, "").split(", ") if d],
            "inputDatasets": self._input_datasets(spec.get("inputs") or []),
            "outputDatasets": [],
            "runDefinition": {
                "script": spec.get("script"),
                "command": spec.get("command"),
                "arguments": spec.get("arguments", []),
                "sourceDirectory": spec["source_directory"],
                "target": record["target"],
                "maxRunDurationSeconds": spec["max_run_duration_seconds"],
                "interpreter": spec.get("interpreter"),
                "environment": spec.get("environment"),
            },
            "logFiles": {"user_logs/std_log.txt": str(self._paths.std_log),
                         "system_logs/preparing.log": str(self._paths.preparing_log),
                         "system_logs/supervisor.log": str(self._paths.supervisor_log)},
            "submittedBy": record["properties"].get("runyard.submittedBy", ""),
        }
        if record.get("exit_code") is not None:
            details["exitCode"] = record["exit_code"]
        if record.get("error"):
            details["error"] = {"error": record["error"]}
        return details

    def get_details_with_logs(self) -> dict:
        details = self.get_details()
        sources = ("std_log", "preparing_log", "supervisor_log")  # the order of logFiles
        details["logFiles"] = {
            name: (self._read_log(source) or b"").decode("utf-8", errors="replace")
            for name, source in zip(details["logFiles"], sources)}
        return details

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        """Block until the run ends; with show_output, stream its log, then a summary.
        Ctrl-C stops waiting; the run goes on."""
        try:
            if show_output:
                self._stream_output(sys.stdout)
            else:
                while not RunStatus(self.get_status()).is_terminal():
                    time.sleep(0.25)
        except KeyboardInterrupt:
            raise ExperimentExecutionException(
                f"Stopped waiting; run {self._id} is still executing. Follow it with "
                f"`runyard runs logs -f {self._id}` or cancel it with run.cancel().") from None
        details = self.get_details()
        if show_output:
            from runyard.runs.summary import execution_summary

            print(execution_summary(self, details), flush=True)
        if raise_on_error and details.get("error"):
            raise ActivityFailedException(self._failure_message(details), details["error"])
        return details

    def _stream_output(self, out) -> None:
        from runyard.ui import address

        served = address.served_url(self._ws)
        web = f"Web View: {address.run_page(self._ws, self._id)}\n" if served else ""
        print(f"RunId: {self._id}\n{web}Workspace: {self._ws.location}\n", file=out, flush=True)
        for text in self.follow_logs(header=True):
            out.write(text)
            out.flush()

    def follow_logs(self, header: bool = False):
        """Yield the run's output as it is written: the Preparing progress while the
        environment is made ready, then user_logs/std_log.txt, until the run ends."""
        preparing = (RunStatus.QUEUED, RunStatus.PREPARING)

        def past_preparing() -> bool:
            return RunStatus(self.get_status()) not in preparing

        # Past Preparing, a run without a preparing log yields nothing here.
        for index, text in enumerate(follow(self._log_source("preparing_log"), past_preparing)):
            if header and index == 0:
                yield "Preparing (system_logs/preparing.log)\n" + "=" * 37 + "\n"
            yield text
        if header:
            yield "\nStreaming user_logs/std_log.txt\n" + "=" * 31 + "\n\n"
        yield from follow(self._log_source("std_log"), self._is_done)

    def _log_source(self, name: str):
        """A run log: its file here, or a read(offset) function over the server's copy."""
        return self._ws.backend.runs.log_source(self._id, name)

    def _read_log(self, name: str) -> bytes | None:
        """The whole of a run log (None: not written yet)."""
        source = self._log_source(name)
        return (source if callable(source) else file_reader(source))(0)

    def _is_done(self) -> bool:
        return RunStatus(self.get_status()).is_terminal()

    def _failure_message(self, details: dict) -> str:
        error = details["error"]["error"]
        parts = [f"Run {self._id} {details['status'].lower()}: {error.get('message', '')}"]
        if error.get("logTail"):
            parts.append("Last lines of user_logs/std_log.txt:\n" + error["logTail"])
        return "\n".join(parts)

    def cancel(self) -> None:
        """Ask the supervisor to stop every process of the run; returns at once."""
        self._ws.backend.runs.cancel(self._id)

    # -- ending a run: complete(), fail(), `with run:` ------------------------------------------
    _own_job = False  # (True for Run.get_context() in a submitted job)

    def complete(self, _set_status: bool = True) -> None:
        """End the run Completed. An interactive run (Experiment.start_logging) ends now, after
        its ./outputs are uploaded; in a submitted script the run completes when the script
        exits with 0."""
        self._end({"status": "Completed"})

    def fail(self, error_details=None, error_code=None, _set_status: bool = True) -> None:
        """End the run Failed, `error_details` (text or an exception) as its reason: at once for
        an interactive run; in a submitted script, when the script exits (whatever its code)."""
        if isinstance(error_details, BaseException):
            message = f"{type(error_details).__name__}: {error_details}"
        else:
            message = str(error_details) if error_details is not None else "The run called run.fail()."
        self._end({"status": "Failed", "code": str(error_code or "UserError"), "message": message})

    def _end(self, outcome: dict) -> None:
        if self._own_job:
            self._emit("end", v=outcome)  # the supervisor reads it when the script exits
            return
        from runyard.runs import interactive

        record = self._refresh()
        if record["status"].is_terminal():
            return  # (already ended: a `with` block around an explicit complete())
        if not interactive.is_interactive(record):
            raise UserErrorException(
                f"Run {self._id} is a submitted run: it ends when its script does. run.cancel() "
                "stops it; complete() and fail() end an interactive run "
                "(Experiment.start_logging()) or, called by the script, its own run.")
        interactive.end(self, outcome)
        self._loaded = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.complete()
        else:
            self.fail(error_details=exc)

    # -- metrics and files -------------------------------------------------------------------------
    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type=None,
                    populate: bool = False) -> dict:
        record = self._refresh()
        if recursive:
            out = {self._id: self.get_metrics(name)}
            for child in self.get_children(recursive=True):
                out[child.id] = child.get_metrics(name)
            return out
        return self._ws.backend.runs.metrics(record, name)

    def get_file_names(self) -> builtins.list[str]:
        from runyard.stores import tracking

        return tracking.list_files(self._ws.tracking_uri, self._refresh()["mlflow_run_id"])

    def download_file(self, name: str, output_file_path: str | None = None,
                      _validate_checksum: bool = False) -> None:
        import tempfile

        from runyard.stores import tracking

        if name not in self.get_file_names():
            raise UserErrorException(
                f"Run {self._id} has no file {name!r}. See run.get_file_names() for its files.")
        target = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
            got = tracking.download(self._ws.tracking_uri, self._record["mlflow_run_id"], name, Path(tmp))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(got), target)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       output_paths=None, batch_size: int = 100, append_prefix: bool = True,
                       timeout_seconds=None) -> builtins.list[str]:
        """Download the run's files under `prefix` into `output_directory` (default: current
        folder). With append_prefix=False the prefix is dropped from the local paths."""
        from runyard.runs.download import download_files

        return download_files(self, prefix, output_directory, output_paths, append_prefix)

    def _get_outputs_datapath(self):
        """v1: this run's outputs/ folder as a DataPath (in `workspaceartifactstore`), to give
        to a later run (`ScriptRunConfig(resume_from=...)`, a data reference or as_mount())."""
        from runyard.data.datapath import DataPath
        from runyard.data.datastore import Datastore
        from runyard.data.run_files import ARTIFACT_STORE, path_on_datastore

        return DataPath(Datastore(self._ws, ARTIFACT_STORE), path_on_datastore(self._id, "outputs"))

    def register_model(self, model_name: str, model_path: str | None = None, tags=None,
                       properties=None, model_framework=None, model_framework_version=None,
                       description=None, datasets=None, sample_input_dataset=None,
                       sample_output_dataset=None, resource_configuration=None, **kwargs):
        """Register a file or folder of this run's artifacts (e.g. 'outputs/model') as a model."""
        from runyard.models.model import register_from_run

        return register_from_run(self, model_name, model_path, tags, properties, model_framework,
                                 model_framework_version, description, datasets,
                                 resource_configuration)

    def get_children(self, recursive: bool = False, tags=None, properties=None, type=None,
                     status=None):
        """The runs this run started (a sweep's trials), oldest first; v1's filters: tags and
        properties (a name, a list of names, or {name: value}), type and status."""
        from runyard.runs.experiment import _matches

        records = sorted(self._ws.backend.runs.list(parent_run_id=self._id), key=lambda r: r["created_at"])
        children = [_class_of(r, Run)(self.experiment, r["run_id"]) for r in records
                    if (not tags or _matches(r["tags"], tags))
                    and (not properties or _matches(r["properties"], properties))
                    and (status is None or r["status"].value == status)]
        if type is not None:
            children = [c for c in children if c.type == type]
        if recursive:
            for child in list(children):
                children.extend(child.get_children(recursive=True, tags=tags, properties=properties,
                                                   type=type, status=status))
        return children

    @property
    def input_datasets(self) -> dict[str, str]:
        """Inside a job: input name -> the local path of its files (v1)."""
        import json

        if self._id == os.environ.get(settings.RUN_ID):  # in the job: no registry read
            return json.loads(os.environ.get(settings.INPUT_DATASETS) or "{}")
        return {spec["name"]: spec["label"] for spec in self._record["spec"].get("inputs") or []}

    def _input_datasets(self, inputs: builtins.list[dict]) -> builtins.list[dict]:
        """v1 get_details()['inputDatasets']: the dataset objects and how they were consumed."""
        if not inputs:
            return []
        from runyard.data.file_dataset import FileDataset

        out = []
        for spec in inputs:
            if spec.get("run_files"):  # another run's files (a data reference), not a dataset
                continue
            if spec["dataset"]:
                dataset = FileDataset._from_record(self._ws, self._ws.backend.datasets.get_by_id(spec["dataset"]["id"]))
            else:
                dataset = FileDataset._from_sources(spec["definition"]["sources"], self._ws,
                                                    spec["definition"]["transforms"], spec["manifest"])
            out.append({"dataset": dataset, "consumptionDetails": {
                "type": "RunInput", "inputName": spec["name"], "mechanism": spec["mode"].capitalize(),
                "pathOnCompute": spec["path_on_compute"]}})
        return out

    def get_environment(self):
        """The Environment the run used (None: the submitting interpreter)."""
        definition = self._record["spec"].get("environment")
        if definition is None:
            return None
        from runyard.environments.environment import Environment

        return Environment.from_definition(definition)

    def get_tags(self) -> dict:
        return self.tags

    def get_properties(self) -> dict:
        return self.properties

    def get_snapshot_id(self) -> str:
        return self._record["spec"]["snapshot_id"]

    def restore_snapshot(self, snapshot_id: str | None = None, path: str | None = None) -> str:
        from runyard.runs import snapshot

        target = Path(path or f"snapshot_{self._id}")
        snapshot.restore(self._ws.snapshots_dir, snapshot_id or self.get_snapshot_id(), target)
        return str(target)

    # -- logging sink ----------------------------------------------------------------------------
    def _logging_sink(self):
        """A client's run.log() calls (the job's own Run has its sink from the start)."""
        if self._sink is None:
            self._sink = self._ws.backend.runs.sink(self._id)
        return self._sink


def _class_of(record: dict, default: type) -> type:
    """The v1 class of a run's record: a sweep's run is a HyperDriveRun."""
    if "sweep" in record["spec"]:
        from runyard.train.hyperdrive.run import HyperDriveRun

        return HyperDriveRun
    return default


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")

