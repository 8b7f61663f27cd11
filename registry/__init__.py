"""The HDF5 registry: semantic graph, model labels, predictions and caches."""
