"""What clinical reviewers ask of a model beyond its pooled metrics, computed without leakage:
recalibration fitted on each fold's inner validation part (``recalibration``), permutation
importance on each fold's test part (``importance``), performance within subgroups
(``subgroups``), the training table's schema and domain kept for external validation
(``schema``), and the figures of each (``figures``).

Kept import-light (no module is imported here): the configuration schema reads the method
names of ``recalibration``.
"""

RECALIBRATION_METHODS = ("none", "platt", "isotonic")  # config group calibration
UPDATE_METHODS = ("none", "intercept", "logistic")  # external validation's model updating
