"""The scikit-learn estimators."""

from relcontrast.estimators.encoder import RelationalContrastiveEncoder
from relcontrast.estimators.supervised import RelationalClassifier, RelationalRegressor

__all__ = ["RelationalClassifier", "RelationalContrastiveEncoder", "RelationalRegressor"]
