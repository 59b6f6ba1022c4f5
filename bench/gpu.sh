#!/usr/bin/env bash
# The GPU checks, in one pass on a machine with a CUDA GPU (a lent one has no network: it uses the
# python3 that holds PyTorch there, and our package from this checkout).
#   bash bench/gpu.sh [OUTDIR]        (OUTDIR defaults to ./gpu-out; one log per step)
# Steps, each under its own time limit so that one slow step does not cost the others:
#   1. the CUDA tests (tests/test_cuda.py; skipped on machines without a GPU);
#   2. torchrun with the nccl backend (1 rank: one GPU), `lightfmp train` and `prune`;
#   3. Light-FMP vs No Selection timings (issue 5): DNN and xDeepFM on 1,000,000 synthetic rows;
#   4. training / inference throughput of the five backbones, beside DeepCTR-Torch where installed.
set -u
OUT=${1:-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" LIGHTFMP_CACHE=${LIGHTFMP_CACHE:-/tmp/lightfmp-cache}
step() {  # step NAME SECONDS CMD...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "=== $name: exit $? in $((SECONDS - t0)) s"
  tail -n 40 "$OUT/$name.log"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__, 'cpus', torch.get_num_threads())"
} 2>&1 | tee "$OUT/env.log"

step tests 100 $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py
SMALL=(--format synthetic --rows 200000 --hidden 400,400,200 --epochs 2 --device cuda --quiet --json)
step nccl 80 bash -c "$PY -m torch.distributed.run --nproc_per_node=1 --standalone -m lightfmp train ${SMALL[*]} --out /tmp/gpu-run-train && \
  $PY -m torch.distributed.run --nproc_per_node=1 --standalone -m lightfmp prune ${SMALL[*]} --model xdeepfm --out /tmp/gpu-run-prune"
step lightfmp_speed 240 $PY bench/lightfmp_speed.py --device cuda --dnn-rows 1000000 --xdeepfm-rows 1000000
step throughput 150 $PY bench/train_throughput.py --device cuda --rows 300000 --xdeepfm-steps 50 --update-steps 50 --repeat 1
