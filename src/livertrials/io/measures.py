"""Effect measures on the ratio scale: pooled on the log scale, shown on the ratio scale.

The one home of this set: validation (a ratio's unit may be the measure's name), harmonization (reported
ratios and their CIs go to the log scale), synthesis, figures and provenance all take it from here.
"""

RATIO_MEASURES = ("RR", "OR", "HR")
