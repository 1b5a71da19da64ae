#!/usr/bin/env bash
# e2e: `trdi calibrate` writes a schedule every command reads (--schedule-file), is deterministic,
# `--schedule calibrated` computes and caches it, and bad budgets / steps / files exit 2 with one
# line.
set -u
T="$1"
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
export XDG_CACHE_HOME="$D/cache"

"$T" calibrate --steps 20 --stepping consistent --budget 300 --out "$D/a.json" >"$D/t" || bad "calibrate run"
grep -q "model evaluations" "$D/t" && ok "prints the cost" || bad "output: $(cat "$D/t")"
"$T" calibrate --steps 20 --stepping consistent --budget 300 --out "$D/b.json" --json >"$D/j" || bad "calibrate json"
python3 - "$D/a.json" "$D/b.json" "$D/j" <<'PY' && ok "schedule file and determinism" || bad "schedule file"
import json, sys
a, b, j = (json.load(open(p)) for p in sys.argv[1:])
ts = a["timesteps"]
assert len(ts) == 20 and all(x > y for x, y in zip(ts, ts[1:]))
assert ts[0] == a["uniform_timesteps"][0] and ts[-1] == a["uniform_timesteps"][-1]
assert a["predicted_error"] <= a["uniform_predicted_error"]
assert 0 < a["calibration"]["nfe"] <= 300 and a["measurements"] and "r2" in a["fit"]
assert a["timesteps"] == b["timesteps"] == j["timesteps"]  # same inputs and seed
PY
# Every run command reads the file; the schedule is used as given.
"$T" reconstruct --stepping consistent --schedule-file "$D/a.json" --json >"$D/r" || bad "reconstruct --schedule-file"
python3 -c "import json,sys; a=json.load(open('$D/a.json')); r=json.load(open('$D/r')); assert r['timesteps']==a['timesteps']" && ok "reconstruct uses the file" || bad "reconstruct timesteps"
"$T" schedule --steps 10 >"$D/s.json" && "$T" reconstruct --schedule-file "$D/s.json" --json >/dev/null && ok "reads trdi schedule output" || bad "schedule output"
"$T" invert --schedule-file "$D/a.json" --out "$D/z.safetensors" >/dev/null && "$T" sample --schedule-file "$D/a.json" --latent-in "$D/z.safetensors" --out "$D/x.png" >/dev/null && ok "invert/sample" || bad "invert/sample"
# --schedule calibrated: computed once, then read from the cache.
"$T" reconstruct --steps 20 --stepping consistent --schedule calibrated --json >"$D/c1" || bad "--schedule calibrated"
ls "$D"/cache/trdi/calib-*.json >/dev/null 2>&1 && ok "cache written" || bad "no cache file"
"$T" reconstruct --steps 20 --stepping consistent --schedule calibrated --json >"$D/c2" || bad "cached run"
cmp -s <(python3 -c "import json;print(json.load(open('$D/c1'))['timesteps'])") <(python3 -c "import json;print(json.load(open('$D/c2'))['timesteps'])") && ok "cache hit gives the same list" || bad "cache list"
for f in "$D"/cache/trdi/calib-*.json; do echo '{"format": "trdi-calibration", "timesteps": [1, 2' >"$f"; done
"$T" reconstruct --steps 20 --stepping consistent --schedule calibrated --json >"$D/c3" || bad "corrupt cache not recomputed"
cmp -s <(python3 -c "import json;print(json.load(open('$D/c1'))['timesteps'])") <(python3 -c "import json;print(json.load(open('$D/c3'))['timesteps'])") && ok "corrupt cache recomputed" || bad "corrupt cache"
python3 -c "import json;print(json.load(open('$D/c1'))['schedule'])" | grep -qx calibrated && ok "reported as calibrated" || bad "schedule name"
# --calib-budget / --calib-seed reach the calibration: the run's list equals trdi calibrate's with
# the same budget and seed (a.json: budget 300, seed 0), and another seed is another cache entry.
"$T" reconstruct --steps 20 --stepping consistent --schedule calibrated --calib-budget 300 --calib-seed 0 --json >"$D/c4" || bad "--calib-budget run"
python3 -c "import json; a=json.load(open('$D/a.json')); r=json.load(open('$D/c4')); assert r['timesteps']==a['timesteps']" && ok "--calib-budget/--calib-seed used" || bad "--calib-budget list differs from trdi calibrate --budget 300"
n1=$(ls "$D"/cache/trdi/calib-*.json | wc -l)
"$T" reconstruct --steps 20 --stepping consistent --schedule calibrated --calib-budget 300 --calib-seed 7 --json >/dev/null || bad "--calib-seed run"
n2=$(ls "$D"/cache/trdi/calib-*.json | wc -l)
[ "$n2" -eq $((n1 + 1)) ] && ok "seed keys the cache" || bad "cache entries $n1 -> $n2"

# Errors: exit 2, one line on stderr, nothing written.
check2() { # name, args...
    local name="$1"; shift
    "$T" "$@" >/dev/null 2>"$D/e"; local rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$D/e")" -eq 1 ]; then ok "$name"; else bad "$name: rc $rc: $(cat "$D/e")"; fi
}
check2 "budget too small" calibrate --budget 10 --out "$D/x.json"
check2 "budget not a number" calibrate --budget lots --out "$D/x.json"
check2 "steps 0" calibrate --steps 0 --out "$D/x.json"
check2 "steps too many" calibrate --steps 5000 --out "$D/x.json"
check2 "no --out" calibrate --steps 10
check2 "missing image" calibrate --image "$D/none.png" --out "$D/x.json"
[ ! -e "$D/x.json" ] && ok "nothing written on error" || bad "x.json left behind"
echo '{"timesteps": [1, 500]}' >"$D/asc.json"
check2 "ascending schedule file" reconstruct --schedule-file "$D/asc.json"
echo 'not json' >"$D/bad.json"
check2 "not JSON" reconstruct --schedule-file "$D/bad.json"
check2 "missing schedule file" reconstruct --schedule-file "$D/none.json"
check2 "file with --steps" reconstruct --schedule-file "$D/a.json" --steps 20
check2 "unknown schedule" reconstruct --schedule calibratd
check2 "calib budget too small" reconstruct --schedule calibrated --calib-budget 10
check2 "calib seed not a number" reconstruct --schedule calibrated --calib-seed x
check2 "calib flag without calibrated" reconstruct --calib-budget 300
exit $fail
