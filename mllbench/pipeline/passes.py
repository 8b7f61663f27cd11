"""Labeling many models in one pass over the graph images: each image decoded and preprocessed
once per distinct transform, its tensor fed to every model that shares the transform.

Decoding is most of labeling's cost for a cheap tower on a CPU, and all of a GPU's waiting
(docs/performance.md, "Paper-scale rehearsal"); the paper's 49 models use 9 transforms, 36
of them one 224-px one. A model shares when it declares ``mllbench.contract.SharedPreprocessing``
(the open_clip provider's do); the others are labelled one at a time as before.

Models are grouped by their provider's ``preprocess_key`` hint (no model loaded), at most
``models_per_pass`` loaded together (memory: a GPU does not hold 49 towers); within a group the
loaded models' own keys, batch sizes and images to encode decide who shares a decode. Each
model keeps its own ``LabelWriter`` (its partial file and done mask), so a kill mid-pass
resumes each model where its own file says. Images are decoded by data-loader workers (forked
processes; pinned memory on CUDA) while the models run; the same tensors, batched as
``encode_images`` batches them, make every label bit-identical to one model at a time.
"""
from __future__ import annotations

import multiprocessing
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from mllbench.contract.pixels import preprocess_key
from mllbench.core.types import VisionLanguageModel
from mllbench.pipeline.evaluate import unreadable
from mllbench.pipeline.labeling import LabelWriter, Progress, encode_pending, label_is_current
from mllbench.pipeline.models import default_device
from mllbench.registry.store import Store, canonical_compute

if TYPE_CHECKING:
    from mllbench.pipeline.session import Session

DEFAULT_MODELS_PER_PASS = 4  # towers loaded together: a few GB on a CPU or GPU at the paper's sizes


def default_workers() -> int:
    """Decoding processes: one CPU is the models', the rest decode (at most 4); none on one CPU."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


@dataclass
class Member:
    """One model of a pass: loaded, with its label's writer and progress line."""

    model_id: str
    writer: LabelWriter
    update: Progress
    model: VisionLanguageModel | None = None


def plan(session: "Session", model_ids: Sequence[str], models_per_pass: int) -> list[list[str]]:
    """The models in groups of at most ``models_per_pass`` that their providers' hints say share a
    transform, in order of first appearance; a model without a hint is a group of its own."""
    groups: list[list[str]] = []
    open_group: dict[str, list[str]] = {}
    for model_id in model_ids:
        hint = session.models.preprocess_hint(model_id) if models_per_pass > 1 else None
        group = open_group.get(hint) if hint is not None else None
        if group is None or len(group) >= models_per_pass:
            group = []
            groups.append(group)
            if hint is not None:
                open_group[hint] = group
        group.append(model_id)
    return groups


def label_group(session: "Session", model_ids: Sequence[str], workers: int) -> dict[str, VisionLanguageModel]:
    """Label the group's models that need it, sharing decoded images where they can; returns the
    models it loaded (the caller runs their predictions while they are in memory)."""
    store, graph = session.store, session.graph()
    with Store.locked(store.label_path(model_ids[0]).parent), ExitStack() as stack:
        members = []
        for model_id in model_ids:
            made = session.models.run_fingerprint(model_id)
            if label_is_current(store, graph, model_id, made):
                continue
            writer = stack.enter_context(LabelWriter(store, graph, model_id, session.models.batch_size(model_id),
                                                     made))
            members.append(Member(model_id, writer, session.report(f"label {model_id}", len(graph.image_refs))))
        for member in members:
            _captions(session, member)
        for shared in _sharing(members):
            if len(shared) == 1:
                encode_pending(shared[0].writer, shared[0].model, session.open_image, shared[0].update)
            else:
                _shared_pass(shared, session.open_image, workers, _pinned(session, shared))
        for member in members:
            member.writer.finish(member.update)
        return {m.model_id: m.model for m in members if m.model is not None}


def _captions(session: "Session", member: Member) -> None:
    """Load the model if it has work, and encode the node captions its label lacks."""
    writer = member.writer
    texts = writer.caption_texts()
    if texts or writer.pending():
        member.model = session.models.load(member.model_id)
    if texts:
        writer.commit_captions(canonical_compute(member.model.encode_texts, texts))
    member.update(writer.n_done, writer.total)


def _sharing(members: Sequence[Member]) -> list[list[Member]]:
    """Members with images to encode, by what a shared decode needs equal: the loaded model's
    preprocessing key, the batch boundaries and the images; a model without a key alone."""
    out: dict[Any, list[Member]] = {}
    for m in members:
        if m.model is None or not m.writer.pending():
            continue
        key = preprocess_key(m.model)
        out.setdefault((key, m.writer.batch_size, tuple(m.writer.need_images)) if key else id(m), []).append(m)
    return list(out.values())


def _pinned(session: "Session", members: Sequence[Member]) -> bool:
    devices = {str(session.models.options(m.model_id).get("device") or default_device()) for m in members}
    return any(d.startswith("cuda") for d in devices)


def _shared_pass(members: Sequence[Member], open_image: Callable[[str], Any], workers: int, pin: bool) -> None:
    """Each pending batch decoded once and committed to every member that lacks it."""
    writer = members[0].writer
    pending = {id(m): set(m.writer.pending()) for m in members}
    starts = sorted(set().union(*pending.values()))
    refs = [writer.graph.image_refs[i] for i in writer.need_images]
    batches = [list(range(s, min(s + writer.batch_size, writer.total))) for s in starts]
    for start, (pixels, bad) in zip(starts, decoded(refs, batches, open_image, members[0].model.prepare_image,
                                                    workers, pin)):
        bad = {j: unreadable(refs[start + j], error) for j, error in bad.items()}
        for m in members:
            if start in pending[id(m)]:
                m.writer.commit(start, np.zeros((0, 0)) if pixels is None else m.model.encode_pixels(pixels), bad)
                m.update(m.writer.n_done, m.writer.total)


class _Prepared:
    """Map-style dataset of the refs' tensors: (tensor, None), or (None, error) for an image
    that does not decode (an OSError, as ``evaluate.read_images`` takes it)."""

    def __init__(self, refs: Sequence[str], open_image: Callable[[str], Any], prepare: Callable[[Any], Any]):
        self.refs, self.open_image, self.prepare = refs, open_image, prepare

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> tuple[Any, str | None]:
        try:
            image = self.open_image(self.refs[index])
        except OSError as exc:
            return None, str(exc)
        return self.prepare(image), None


def _stack(items: list[tuple[Any, str | None]]) -> tuple[Any, dict[int, str]]:
    """A batch: the stacked tensors of the images that decoded (None if none did), and the errors."""
    import torch

    tensors = [t for t, error in items if error is None]
    return (torch.stack(tensors) if tensors else None), {j: e for j, (_, e) in enumerate(items) if e is not None}


def decoded(refs: Sequence[str], batches: list[list[int]], open_image: Callable[[str], Any],
            prepare: Callable[[Any], Any], workers: int, pin: bool):
    """(pixels, {position: error}) per batch of positions in ``refs``, in order: a torch DataLoader,
    ``workers`` forked processes decoding ahead (none: in this process; no fork where there is none)."""
    from torch.utils.data import DataLoader

    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 0  # a worker would need the session pickled
    return DataLoader(_Prepared(refs, open_image, prepare), batch_sampler=batches, collate_fn=_stack,
                      num_workers=workers, pin_memory=pin, multiprocessing_context="fork" if workers else None)
