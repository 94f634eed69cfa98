"""An MPI job: every rank contributes its rank number; allreduce sums them. Submit with:

    runyard run --mpi --processes-per-node 3 mpi_allreduce.py
    # or: ScriptRunConfig(..., distributed_job_config=MpiConfiguration(process_count_per_node=3))

Ranks see OMPI_COMM_WORLD_RANK/_SIZE/_LOCAL_RANK and RANK, WORLD_SIZE, LOCAL_RANK. Run your
script as `python -m mpi4py script.py` (command=[...]) to make an uncaught exception in one
rank abort the others instead of leaving them waiting in MPI_Finalize.
"""

import os

from mpi4py import MPI

from runyard.core import Run

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
assert int(os.environ["RANK"]) == rank and int(os.environ["WORLD_SIZE"]) == size
total = comm.allreduce(rank, op=MPI.SUM)
print(f"rank {rank} of {size} (local rank {os.environ['LOCAL_RANK']}): sum of ranks = {total}",
      flush=True)
if rank == 0:
    Run.get_context().log("sum_of_ranks", total)
