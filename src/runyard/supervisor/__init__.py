"""The run supervisor: one detached process per run, the only writer of its history."""
