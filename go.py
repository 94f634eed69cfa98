from runyard.core import Workspace, Experiment, ScriptRunConfig
from runyard.core.runconfig import MpiConfiguration
ws = Workspace.from_config()
for script in ["a.py", "fail.py"]:
    run = Experiment(ws, "mpi").submit(ScriptRunConfig("src", script=script, distributed_job_config=MpiConfiguration(process_count_per_node=3)))
    d = run.wait_for_completion(raise_on_error=False)
    print(script, d["status"], d.get("error", {}).get("error", {}).get("message"))
    print(open(run._paths.std_log).read()[-1200:])
    print(sorted(p.name for p in run._paths.user_logs.iterdir()))
