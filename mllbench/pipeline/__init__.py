"""Floor 5: the pipeline. graph -> labels -> predictions -> selection -> reuse -> results.

``session`` hands selectors their context, through named parts: ``models`` (one model in
memory), ``texts`` (captions, embeddings, text towers), ``graphs`` (the semantic graph and its
labels), ``predictions`` (cached predictions, accuracies) and ``selection`` (contexts, reuse);
``run`` writes results; ``truth`` reads the ground truth (never computing it on a read);
``labeling`` and ``evaluate`` run models (through ``executors``: ``local`` or Ray) only where the
registry lacks their output; ``dryrun`` says what a run would do; ``imageset`` reads a user's
own images."""
from mllbench.core.files import write_json
from mllbench.pipeline.run import RESULT_SCHEMA, run_method
from mllbench.pipeline.session import Session
from mllbench.pipeline.truth import cached_truth, ground_truth

__all__ = ["RESULT_SCHEMA", "Session", "cached_truth", "ground_truth", "run_method", "write_json"]
