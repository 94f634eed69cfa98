"""Datasets as run inputs: collected from a ScriptRunConfig at submit (pinned then), made
available by the supervisor in Preparing, before the script starts.

An input, as stored in the RunSpec:
  {"name", "mode": "mount"|"download", "path_on_compute", "dataset": {"id","name","version"}
   or None, "label", "manifest": pinned entries (unregistered datasets only; a registered
   version's manifest is read from the registry)}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from runyard import settings
from runyard.data import run_files
from runyard.data.dataset_consumption_config import PLACEHOLDER, DatasetConsumptionConfig
from runyard.errors import UserErrorException, received

ENV_INPUTS = settings.INPUT_DATASETS


def collect(arguments: list, data: dict | None) -> tuple[list, list[dict]]:
    """Replace the DatasetConsumptionConfigs in `arguments` with placeholders and return them
    (with RunConfiguration.data's) as input specs; unnamed inputs become input_1, input_2..."""
    configs: list[DatasetConsumptionConfig] = []
    for name, config in (data or {}).items():
        if not isinstance(config, DatasetConsumptionConfig):
            raise UserErrorException(f"RunConfiguration.data[{name!r}] must be a "
                                     f"DatasetConsumptionConfig (dataset.as_named_input({name!r}).as_mount()). "
                                     f"Received: {received(config)}")
        configs.append(config if config.name else DatasetConsumptionConfig(name, config.dataset, config.mode,
                                                                           config.path_on_compute))
    names: dict[int, str] = {}
    counter = 0
    out = []
    for value in arguments:
        if isinstance(value, DatasetConsumptionConfig):
            if id(value) not in names:
                name = value.name
                if name is None:
                    counter += 1
                    name = f"input_{counter}"
                names[id(value)] = name
                configs.append(DatasetConsumptionConfig(name, value.dataset, value.mode, value.path_on_compute))
            out.append(PLACEHOLDER + names[id(value)])
        else:
            out.append(value)
    seen: dict[str, DatasetConsumptionConfig] = {}
    for config in configs:
        if config.name in seen and seen[config.name].dataset is not config.dataset:
            raise UserErrorException(f"Two different datasets use the input name {config.name!r}; "
                                     "give each its own name with as_named_input.")
        seen.setdefault(config.name, config)
    return out, [_spec(config) for config in seen.values()]


def collect_references(arguments: list, data: dict | None, references: dict | None,
                       workspace) -> tuple[list, dict]:
    """v1 data references as run inputs: those in run_config.data_references (by name) and
    DataReference objects among the arguments; `$AZUREML_DATAREFERENCE_<name>` in an argument
    becomes that input's path when the run starts."""
    from runyard.data.data_reference import (
        ARGUMENT_PREFIX,
        DataReference,
        DataReferenceConfiguration,
    )

    found: dict[str, DataReference] = {}
    for name, value in (references or {}).items():
        if isinstance(value, DataReference):
            found[name] = value if value.data_reference_name == name else value.path(
                value.path_on_datastore, name)
        elif isinstance(value, DataReferenceConfiguration):
            found[name] = DataReference._from_config(name, value, workspace)
        else:
            raise UserErrorException(
                f"run_config.data_references[{name!r}] takes a DataReferenceConfiguration "
                f"(reference.to_config()). Received: {received(value)}")
    out = []
    for value in arguments:
        if isinstance(value, DataReference):
            found.setdefault(value.data_reference_name, value)
            value = str(value)
        if isinstance(value, str) and ARGUMENT_PREFIX in value:
            for name in sorted({*found, *(data or {})}, key=len, reverse=True):  # longest first
                value = value.replace(ARGUMENT_PREFIX + name, PLACEHOLDER + name)
            if ARGUMENT_PREFIX in value:
                raise UserErrorException(
                    f"The argument {value!r} names a data reference that run_config.data_references "
                    f"does not hold (it has: {', '.join(sorted(found)) or 'none'}). Add it: "
                    "run_config.data_references[name] = reference.to_config().")
        out.append(value)
    merged = dict(data or {})
    for name, reference in found.items():
        if name in merged:
            raise UserErrorException(f"{name!r} is both a data reference and a dataset input; "
                                     "give one of them another name.")
        merged[name] = reference._consumption()
    return out, merged


def _spec(config: DatasetConsumptionConfig) -> dict:
    dataset = config.dataset
    mode = "mount" if config.mode == "direct" else config.mode
    spec = {"name": config.name, "mode": mode, "path_on_compute": config.path_on_compute,
            "label": dataset._label(), "definition": dataset._definition, "dataset": None,
            "manifest": None, "folder": config._folder}
    if hasattr(dataset, "_input_fields"):  # not a dataset: a run's files (data/run_files.py)
        spec.update(dataset._input_fields())
    elif dataset.id:
        spec["dataset"] = {"id": dataset.id, "name": dataset.name, "version": dataset.version}
    else:  # pinned now: the run gets the files as they are at submit
        spec["manifest"] = dataset._pinned(show_progress=True)
    return spec


def substitute(arguments: list[str], paths: dict[str, str]) -> list[str]:
    """Placeholders in the script's arguments -> the inputs' local paths."""
    out = []
    for arg in arguments:
        for name, path in sorted(paths.items(), key=lambda item: -len(item[0])):  # input_10 before input_1
            arg = arg.replace(PLACEHOLDER + name, path)
        out.append(arg)
    return out


def prepare(inputs: list[dict], workspace, workdir: Path, default_root: Path,
            emit: Callable[[str], None]) -> tuple[dict[str, str], list[dict]]:
    """Make every input available; returns {name: path} and what was used (file hashes)."""
    from runyard.data.views import materialize

    paths, used = {}, []
    for spec in inputs:
        if spec.get("run_files"):
            target = _empty_target(spec, workdir, default_root)
            files = run_files.fetch(spec, workspace, target, emit)
            paths[spec["name"]] = str(target)
            used.append({"name": spec["name"], "dataset": None, "run_files": spec["run_files"],
                         "mode": spec["mode"], "path": str(target), "files": files})
            continue
        if spec["manifest"] is not None:
            entries = [dict(e) for e in spec["manifest"]]
        else:
            entries = [dict(e) for e in workspace.backend.datasets.get_by_id(spec["dataset"]["id"])["manifest"]]
        target = _empty_target(spec, workdir, default_root)
        total = sum(e["size"] or 0 for e in entries)
        emit(f"Input {spec['name']!r} ({spec['label']}): {len(entries):,} files, "
             f"{total / 1e6:,.1f} MB, {spec['mode']} -> {target}")
        path = materialize(entries, spec["mode"], target, workspace.backend.datastores.config,
                           emit, f"Input {spec['name']!r}")
        if spec.get("folder"):
            path = target
        paths[spec["name"]] = str(path)
        used.append({"name": spec["name"], "dataset": spec["dataset"], "mode": spec["mode"],
                     "path": str(path), "files": [{k: e.get(k) for k in ("path", "url", "size", "sha256")}
                                                  for e in entries]})
    return paths, used


def _empty_target(spec: dict, workdir: Path, default_root: Path) -> Path:
    target = view_root(spec, workdir, default_root)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserErrorException(f"Input {spec['name']!r}: path_on_compute {str(target)!r} exists "
                                 "and is not empty; pick a new or empty folder.")
    return target


def view_root(spec: dict, workdir: Path, default_root: Path) -> Path:
    if spec["path_on_compute"]:
        given = Path(spec["path_on_compute"]).expanduser()
        return given if given.is_absolute() else workdir / given
    return default_root / spec["name"]


def job_environment(paths: dict[str, str]) -> dict[str, str]:
    """v1: each input name is an environment variable holding its path."""
    env = {ENV_INPUTS: json.dumps(paths)}
    for name, path in paths.items():
        env[name] = path
        env[f"AZUREML_DATAREFERENCE_{name}"] = path
    return env

