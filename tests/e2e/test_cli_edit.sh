#!/usr/bin/env bash
# e2e: `trdi edit`: the target prompt is required, the edit runs and moves the image toward the
# named component of a two-image mixture.
set -u
T="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

"$T" edit --out "$D/o.png" >/dev/null 2>"$D/e"
[ $? -eq 2 ] && [ "$(wc -l <"$D/e")" -eq 1 ] && [ ! -e "$D/o.png" ] && ok "target prompt required" || bad "target prompt required"
"$T" edit --prompt circle --target-prompt stripes --guidance 3 --steps 20 --out "$D/e.png" --json >"$D/j.json" || bad "edit run"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["target_prompt"]=="stripes" and j["nfe"]>0 and "psnr" in j' "$D/j.json" && ok "edit json" || bad "edit json"
[ -s "$D/e.png" ] && ok "edit image" || bad "edit image"
"$T" edit --target-prompt zebra --out "$D/o.png" >/dev/null 2>"$D/e"
[ $? -eq 2 ] && [ ! -e "$D/o.png" ] && ok "unknown target label" || bad "unknown target label"
"$T" edit --method renoise --prompt circle --target-prompt checker --steps 10 >/dev/null || bad "renoise edit"
"$T" edit --method npi --corrected --prompt circle --target-prompt checker --guidance 2 --steps 10 >/dev/null || bad "npi corrected edit"
ok "method edits"
exit $fail
