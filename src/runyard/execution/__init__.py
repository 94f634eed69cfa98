"""Running a job's processes on a machine: making the job runnable there (environment, inputs,
command line, process environment), spawning and watching its processes, and stopping every
one of them. The local supervisor, the Ray node launchers and the endpoint servers all use it;
`runner.JobRunner` is what the supervisor asks of a job, wherever it runs."""
