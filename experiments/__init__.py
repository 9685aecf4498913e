"""Configs and scripts that reproduce published families and tables."""
