#!/usr/bin/env bash
# Issue 21's GPU measurements, for a session lent a GPU machine: two parts, each under 10 minutes.
#
#   benchmarks/gpu_session.sh measure   # first-vs-second trial (+ profile, 3 variants), the README search
#   benchmarks/gpu_session.sh tests     # pytest -m device
#   benchmarks/gpu_session.sh laws      # issue 19: the scaling-law fit of B0 with 2 replicas (run again to resume)
#
# Run from the repository root, with the package's requirements importable (optuna and friends) and
# NAS_FASHION_MNIST naming a directory of the four Fashion-MNIST IDX files. Everything printed is also
# written under $OUT (default gpu-out).
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
part=${1:-measure}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
  echo "host cores: $(nproc)"; } 2>&1 | tee "$OUT/gpu.txt"

case "$part" in
measure)
  # Where a new genome's first trial goes (profile), and what each setting changes (3 genomes each).
  (cd benchmarks && timeout 150 $PY first_trial.py --genomes 3 --profile) 2>&1 | tee "$OUT/first_trial.txt"
  for variant in "--cudnn benchmark" "--set channels_last=false" "--set amp=false"; do
    echo "== $variant"
    (cd benchmarks && timeout 75 $PY first_trial.py --genomes 3 $variant) 2>&1 | tail -7
  done 2>&1 | tee "$OUT/variants.txt"
  # The README search (20 trials, default reward and proxy) with the default --workers auto.
  start=$SECONDS
  timeout 150 $PY -m nas.search --space mbconv --budget 400M --device cuda --out "$OUT/search" --quiet --no-plots \
      2>&1 | tail -4 | tee "$OUT/search.txt"
  echo "README search, --workers auto: $((SECONDS - start)) s wall" | tee -a "$OUT/search.txt"
  ;;
tests)
  timeout 540 $PY -m pytest -q -p no:logging -m device tests/test_device.py tests/test_data.py 2>&1 \
      | tail -25 | tee "$OUT/device_tests.txt"
  ;;
laws)
  dir=runs/laws-b0-gpu
  resume=$([ -f "$dir/study/study.db" ] && echo --resume)
  timeout 560 $PY -m scaling.laws fit --base efficientnet_b0 --device cuda --replicas 2 --out "$dir" --quiet \
      --no-plots $resume 2>&1 | tail -25 | tee "$OUT/laws.txt"
  cp "$dir"/laws.json "$dir"/points.csv "$OUT"/ 2>/dev/null
  ;;
*)
  echo "usage: $0 measure|tests|laws" >&2
  exit 2
  ;;
esac
