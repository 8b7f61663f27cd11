"""Floor 1: the WordNet semantic graph (Section 4.1): the shipped WordNet 3.0 nouns and the graph
built from sample datasets. Knows nothing of models, plugins or the registry."""
