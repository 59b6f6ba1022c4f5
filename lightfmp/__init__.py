"""lightfmp: Light-FMP feature and model pruning for deep CTR recommenders."""

__version__ = "0.1.0"
__all__ = ["__version__"]
