"""OpenMPI's remote launcher on a Ray target, in place of ssh.

mpirun runs on the job's first node with a hostfile of names ("rynode0", "rynode1", ...) and
`--mca plm_rsh_agent "<python> -m runyard.compute.mpi_rsh"`. For each node it calls
`mpi_rsh <name> <orted command line>`, as it would call `ssh <host> <command>`; this asks that
node's agent (a Ray actor) to run the command there, relays its output, and lives as long as it
does, with its exit code. Terminated by mpirun, it stops the remote command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from runyard import settings

NODES, RUN_ID, TARGET = settings.MPI_NODES, settings.MPI_RUN_ID, settings.MPI_TARGET


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: mpi_rsh HOST COMMAND...", file=sys.stderr)
        return 2
    host, command = argv[0], argv[1:]
    nodes = json.loads(os.environ[NODES])
    if host not in nodes:
        print(f"mpi_rsh: unknown node {host!r} (this job's nodes: {', '.join(nodes)})", file=sys.stderr)
        return 255
    import ray

    from runyard.compute import ray_cluster

    ray_cluster.connect(json.loads(os.environ[TARGET]))
    launcher = ray.get_actor(nodes[host], namespace="runyard")
    run_id = os.environ[RUN_ID]

    def call(method: str, *args):
        return ray.get(launcher.call.remote(run_id, method, *args), timeout=30)

    daemon = call("run_daemon", command)
    stopping = []

    def _stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while True:
        if stopping:
            call("stop_daemon", daemon)
        output, code = call("poll_daemon", daemon)
        if output:
            sys.stdout.buffer.write(output)
            sys.stdout.flush()
        if code is not None:
            return 128 - code if code < 0 else code
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
