#!/usr/bin/env bash
# e2e: `trdi demo` prints one row per method and schedule; BELM reconstructs exactly.
set -u
T="$1"
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
"$T" demo --steps 20 >"$D/t" || bad "demo run"
[ "$(grep -cE '^(ddim|npi|renoise|gnri|fpi|aidi|edict|bdia|belm) +(uniform|trdi) ' "$D/t")" -eq 18 ] && ok "18 table rows" || bad "table: $(cat "$D/t")"
grep -q "20 steps" "$D/t" && ok "header names the steps" || bad "header"
"$T" demo --steps 20 --json >"$D/j" || bad "demo json"
python3 - "$D/j" <<'PY' && ok "json rows" || bad "json rows"
import json, sys
j = json.load(open(sys.argv[1]))
rows = j["rows"]
assert len(rows) == 27  # uniform, trdi and calibrated for each of the 9 methods
assert j["calibration_nfe"] > 0
assert [r["schedule"] for r in rows[:3]] == ["uniform", "trdi", "calibrated"]
assert {r["method"] for r in rows} == {"ddim", "npi", "renoise", "gnri", "fpi", "aidi", "edict", "bdia", "belm"}
assert all(r["nfe"] > 0 and "psnr" in r and "mse" in r for r in rows)
assert all(r["psnr"] == "inf" for r in rows if r["method"] == "belm")
# fpi / aidi / renoise run in the reconstruction configuration (footnote; --reference: none)
assert j["configuration"] == "reconstruction"
PY
"$T" demo --steps 20 --reference --json >"$D/r" || bad "demo --reference"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["configuration"] == "reference"' "$D/r" && ok "--reference" || bad "--reference"
grep -q "^(\*) reconstruction configuration" "$D/t" && ok "footnote" || bad "footnote"
"$T" demo --steps x >/dev/null 2>&1; [ $? -eq 2 ] && ok "bad steps" || bad "bad steps"
exit $fail
