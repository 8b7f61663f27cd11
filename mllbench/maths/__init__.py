"""Floor 0: the paper's equations and the statistics, as functions of arrays (numpy only).

``mll`` is Eqs. 2-7 (labels, transfer matrix, precision, reuse metric), ``reuse`` Eqs. 8-10
(top-k per class and the ensemble), ``ranking`` LOVM's metrics, ``stats`` intervals and paired
tests, ``textbatch`` the canonical text batches. No I/O, no plugins, no registry."""
