"""Model scaling: compound scaling (EfficientNet) and stage-wise scaling (EfficientNetV2).

The rounding rules belong to the genome core (:mod:`search_spaces.rounding`, which
``resolve`` uses); scaling imports them from there.
"""
