"""The layers docs/architecture.md states ("Layers"), checked on the source: the backend and
the process side never import the v1 classes, nothing outside a backend asks which backend a
workspace has, and every backend implements its resource's interface."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import seams  # noqa: E402

SOURCE = Path(__file__).resolve().parents[1] / "src" / "runyard"

# The v1 classes (and the v1 argument objects users build), and the modules that translate
# v1 arguments for the backend: the facade. (The workspace is shared by both layers: it is the
# folder, stores and backend that everything below is given or opens.)
FACADE = ("runyard.core", "runyard.train", "runyard.runs.run",
          "runyard.runs.experiment", "runyard.runs.config", "runyard.models.model",
          "runyard.serving.webservice", "runyard.serving.arguments", "runyard.serving.configs",
          "runyard.data.dataset", "runyard.data.file_dataset", "runyard.data.datastore",
          "runyard.data.datapath", "runyard.data.data_reference", "runyard.data.dataset_consumption_config",
          "runyard.environments.environment", "runyard.compute.targets")

# Below the facade: each resource's backend implementations, the stores, and what runs jobs
# and endpoints (supervisors, Ray nodes, endpoint servers).
BELOW = ("runyard.backends", "runyard.stores", "runyard.execution", "runyard.supervisor",
         "runyard.runs.local", "runyard.runs.remote", "runyard.models.local", "runyard.models.remote",
         "runyard.environments.local", "runyard.compute.local", "runyard.compute.remote",
         "runyard.compute.ray_job", "runyard.compute.ray_agent", "runyard.data.local",
         "runyard.data.remote", "runyard.serving.local", "runyard.serving.remote",
         "runyard.serving.store", "runyard.serving.deploy", "runyard.serving.server",
         "runyard.serving.keeper", "runyard.sweeps")


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def import_graph() -> dict[str, set[str]]:
    found = seams.modules(SOURCE)
    return {name: {t for targets, _ in seams.imported(name, path, ast.parse(path.read_text()), set(found))
                   for t in targets}
            for name, path in found.items()}


def test_the_backend_and_the_process_side_never_import_the_v1_classes():
    graph = import_graph()
    assert all(any(within(m, [p]) for m in graph) for p in FACADE + BELOW), "a listed module is gone"
    crossing = sorted(f"{module} imports {target}" for module, targets in graph.items()
                      if within(module, BELOW) for target in targets if within(target, FACADE))
    assert crossing == [], "\n".join(crossing)


def test_no_code_asks_whether_a_workspace_is_remote():
    asking = [str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py") if "is_remote" in p.read_text()]
    assert asking == []


def backend_pairs():
    from runyard.backends import Backend

    for name, member in inspect.getmembers(Backend, lambda m: isinstance(m, property)):
        interface = inspect.signature(member.fget).return_annotation
        source = inspect.getsource(member.fget)
        paths = [part for part in source.split('"') if part.startswith("runyard.")]
        yield pytest.param(name, interface, paths, id=name)


@pytest.mark.parametrize(("resource", "interface", "implementations"), list(backend_pairs()))
def test_each_backend_implements_its_resources_interface(resource, interface, implementations):
    import importlib

    import runyard.backends as backends

    protocol = getattr(backends, interface)
    wanted = {name: inspect.signature(fn) for name, fn in vars(protocol).items()
              if inspect.isfunction(fn) and not name.startswith("_")}
    assert wanted and len(implementations) == 2, (resource, implementations)
    for path in implementations:
        module, _, cls = path.rpartition(".")
        implementation = getattr(importlib.import_module(module), cls)
        for name, signature in wanted.items():
            method = getattr(implementation, name, None)
            assert method is not None, f"{path} lacks {name}()"
            assert list(inspect.signature(method).parameters)[:len(signature.parameters)] == \
                list(signature.parameters), f"{path}.{name}{inspect.signature(method)} is not {name}{signature}"


def test_every_environment_variable_is_declared_in_settings():
    """Read through settings.py: no module reads a variable by a literal name, and every
    RUNYARD_ name runyard sets or passes on is declared there (with what it means)."""
    declared = (SOURCE / "settings.py").read_text()
    read_literally, undeclared = [], []
    for path in SOURCE.rglob("*.py"):
        if path.name == "settings.py" and path.parent == SOURCE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and ast.unparse(node.func) in (
                        "os.environ.get", "os.getenv", "environ.get"):
                read_literally.append(f"{path.relative_to(SOURCE)}: {ast.unparse(node)}")
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" and \
                    isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
                read_literally.append(f"{path.relative_to(SOURCE)}: {ast.unparse(node)}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value.startswith("RUNYARD_") and node.value.isupper() and node.value[-1] != "_" and \
                    f'"{node.value}"' not in declared:
                undeclared.append(f"{path.relative_to(SOURCE)}: {node.value}")
    assert read_literally == [] and undeclared == [], read_literally + undeclared


def test_import_cycles_are_only_among_the_v1_classes():
    """The v1 classes refer to each other as v1's API does (Run.register_model -> Model ->
    Model.deploy -> Webservice; Experiment <-> Run; DataPath <-> Datastore <-> FileDataset);
    nothing below them is part of a cycle."""
    facade = FACADE + ("runyard.workspace",)
    outside = sorted({module for group in seams.cycles(import_graph()) for module in group
                      if not within(module, facade)})
    assert outside == [], f"in an import cycle: {outside}"


def test_every_import_of_runyards_own_names_resolves():
    """Function-level imports run only when called: each `from runyard.x import y` must name a
    module or a name that exists (a renamed module breaks nothing else at import time)."""
    import importlib

    missing = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runyard")):
                continue
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                missing.append(f"{path.relative_to(SOURCE)}: {node.module} ({exc})")
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{path.relative_to(SOURCE)}: {node.module}.{alias.name}")
    assert missing == [], "\n".join(missing)


def test_every_module_compiles_on_python_3_7():
    """Jobs and entry scripts import runyard from this tree in their own interpreter, as old as
    Python 3.7 (README): no syntax newer than 3.7 anywhere (a real 3.7 compiles the tree)."""
    import subprocess

    from runyard.environments import interpreters

    python37, version = interpreters.find("3.7")
    assert version.startswith("3.7.")
    check = ("import pathlib, sys\n"
             "bad = []\n"
             "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
             "    try:\n"
             "        compile(p.read_text(encoding='utf-8'), str(p), 'exec', dont_inherit=True)\n"
             "    except SyntaxError as e:\n"
             "        bad.append('%s:%s: %s' % (p, e.lineno, e.msg))\n"
             "print('\\n'.join(bad))\n")
    result = subprocess.run([python37, "-c", check, str(SOURCE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
