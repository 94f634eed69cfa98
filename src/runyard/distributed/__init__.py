"""Distributed jobs: what each process of a job runs (TF_CONFIG, roles, ranks).

`compute/` decides where processes run; this package decides what each one gets.
"""
