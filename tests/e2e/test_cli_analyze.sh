#!/usr/bin/env bash
# e2e: `trdi analyze` writes the deviation grid as CSV and a PNG chart; bad arguments exit 2.
set -u
T="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

"$T" analyze --out "$D/a.csv" --chart "$D/a.png" >"$D/stdout" || bad "analyze run"
head -1 "$D/a.csv" | grep -q "^t_from,step,t_to,a_from,a_to,err_rms,rel_err$" && ok "csv header" || bad "csv header"
python3 - "$D/a.csv" <<'PY' && ok "csv content" || bad "csv content"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
steps = sorted({int(r["step"]) for r in rows})
assert steps == [1, 2, 5, 10, 20, 50, 100], steps
for r in rows:
    assert int(r["t_to"]) == int(r["t_from"]) + int(r["step"]) <= 999
    assert float(r["err_rms"]) >= 0
mean = {d: sum(float(r["err_rms"]) for r in rows if int(r["step"]) == d) / sum(1 for r in rows if int(r["step"]) == d) for d in steps}
assert mean[1] < mean[10] < mean[100], mean
PY
head -c 8 "$D/a.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" && ok "png written" || bad "png"
"$T" analyze --timesteps 0,500 --step-sizes 1,10 --json >"$D/j.json" || bad "json run"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["points"]==4 and len(j["step_sizes"])==2' "$D/j.json" && ok "json" || bad "json"
"$T" analyze --timesteps 0,500 --step-sizes 1 | head -1 | grep -q "^t_from" && ok "csv on stdout" || bad "csv on stdout"
"$T" analyze --timesteps 999 --out "$D/x.csv" 2>"$D/e" >/dev/null
[ $? -eq 2 ] && [ ! -e "$D/x.csv" ] && ok "timestep out of range" || bad "timestep out of range"
"$T" analyze --step-sizes 0 --out "$D/x.csv" 2>/dev/null >/dev/null
[ $? -eq 2 ] && [ ! -e "$D/x.csv" ] && ok "step size 0" || bad "step size 0"
"$T" analyze --chart "$D/x.jpg" 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok "chart must be png" || bad "chart must be png"
exit $fail
