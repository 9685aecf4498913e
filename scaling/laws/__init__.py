"""Scaling laws: how each scaling strategy's cost and accuracy grow, and which to grow a base by.

``python -m scaling.laws analyse|fit|recommend`` (:mod:`scaling.laws.cli`); strategies are data
in :mod:`scaling.strategies`.
"""
