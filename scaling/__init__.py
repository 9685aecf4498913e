"""Model scaling: rounding rules, compound scaling (EfficientNet) and stage-wise scaling (EfficientNetV2).

Kept import-light: ``search_spaces`` uses :mod:`scaling.rounding` to resolve genomes.
"""
