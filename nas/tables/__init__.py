"""Tabular benchmarks: tables of networks trained once by others, looked up instead of trained.

- :mod:`nas.tables.nb201`: NAS-Bench-201 (its ``nb201`` space in :mod:`search_spaces.spaces.nb201`,
  its ``nb201`` evaluator in :mod:`nas.evaluators.nb201`).
"""
