#!/bin/sh
# Run every measurement in this folder on the lent GPU, in one call (device time is short).
#   OUT=DIR sh validation/measured/measure_all.sh
# Writes DIR/nvidia-smi.csv, DIR/kernels.json, DIR/sustained.json, DIR/bert.json, DIR/sm-scaling.json,
# DIR/serving.json, DIR/dma.json, DIR/clock-coupling.json, DIR/power-probe.json, DIR/loaded-latency.json, DIR/clocks.json, DIR/ncu.csv
# and a log of each.
set -u
D=${OUT:?set OUT to the output folder}
HERE=$(dirname "$0")
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,clocks.max.mem,pcie.link.gen.max --format=csv >"$D/nvidia-smi.csv" 2>&1
cat "$D/nvidia-smi.csv"
python3 -c "import torch; p=torch.cuda.get_device_properties(0); print(p.name, p.multi_processor_count, 'SMs', getattr(p,'L2_cache_size',None), 'B L2', p.total_memory, 'B')"
for s in measure_gpu:kernels sustained_clock:sustained bert_train:bert sm_scaling:sm-scaling serving_steps:serving dma_engines:dma clock_coupling:clock-coupling power_probe:power-probe loaded_latency:loaded-latency; do
  py=${s%%:*}; name=${s##*:}
  t0=$(date +%s)
  python3 "$HERE/$py.py" "$D/$name.json" >"$D/$name.log" 2>&1
  echo "$py: exit $? in $(( $(date +%s) - t0 )) s"; tail -n 3 "$D/$name.log"
done
# SM clock and power against busy SMs, and the library kernels' launch shapes under the profiler.
python3 "$HERE/clocks_and_kernels.py" clocks "$D/clocks.json" >"$D/clocks.log" 2>&1; echo "clocks: exit $?"
ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight --csv --page details \
  python3 "$HERE/clocks_and_kernels.py" ops >"$D/ncu.csv" 2>"$D/ncu.err"; echo "ncu: exit $?"
