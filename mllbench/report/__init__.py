"""Floor 6: reading results: the leaderboard, paired comparisons, experiments, plots, the static
HTML report and results exchange. Never loads a model or a dataset."""
