"""The search: ``python -m nas.search --space mbconv --budget 400M`` (see :mod:`nas.search.cli`).

- :mod:`nas.search.driver`: records, evaluates (once per genome) and scores every proposal;
- :mod:`nas.search.study`: creates or resumes the Optuna study, the system of record;
- :mod:`nas.search.outputs`: found.yaml, trials.csv, pareto.yaml and plots from the study;
- :mod:`nas.search.budget`: MACs budgets and the space's reachable range;
- :mod:`nas.search.progress`: progress bar and per-trial log lines.
"""
