"""Pinned benchmark data: registry, verification, fetch and import."""

from safetylens.datasets.registry import DATASETS, DataFile, DatasetInfo, DataStore, get_dataset

__all__ = ["DATASETS", "DataFile", "DataStore", "DatasetInfo", "get_dataset"]
