#!/usr/bin/env bash
# e2e: `trdi reconstruct` on the built-in exact model: text and JSON output, exact methods, and
# bad input (exit 2, one line on stderr, no output file left behind).
set -u
T="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

# Plain run: metrics printed.
out=$("$T" reconstruct --steps 20 2>"$D/err") || bad "reconstruct exit $?"
grep -q "PSNR" <<<"$out" && grep -q "SSIM" <<<"$out" && grep -q "MSE" <<<"$out" && ok "text metrics" || bad "text metrics: $out"
[ ! -s "$D/err" ] && ok "no progress on a non-terminal stderr" || bad "stderr not empty: $(cat "$D/err")"

# JSON fields present and sane.
"$T" reconstruct --steps 20 --json --out "$D/r.png" --out-latent "$D/z.safetensors" >"$D/j.json" || bad "json run"
python3 - "$D/j.json" <<'PY' && ok "json fields" || bad "json fields"
import json, sys, math
j = json.load(open(sys.argv[1]))
for k in ("psnr", "ssim", "mse", "nfe", "seconds", "method", "timesteps"):
    assert k in j, k
assert isinstance(j["psnr"], (int, float)) and 0 < j["psnr"] < 200
assert 0 < j["ssim"] <= 1 and 0 < j["mse"] < 1
# ddim: inversion g = 0 (1 pass per step), sampling g = 1.2 (2 passes per step)
assert j["nfe"] == 20 + 40 and j["nfe_inversion"] == 20, j["nfe"]
assert j["seconds"] >= 0 and len(j["timesteps"]) == 20
# PSNR is 10 log10(1 / MSE) of [0, 1] images
assert abs(j["psnr"] - 10 * math.log10(1 / j["mse"])) < 1e-6
PY
[ -s "$D/r.png" ] && [ -s "$D/z.safetensors" ] && ok "outputs written" || bad "outputs missing"

# An exact method: identical images give psnr "inf".
"$T" reconstruct --method belm --steps 10 --json >"$D/b.json" || bad "belm run"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["psnr"]=="inf" and j["mse"]==0, j' "$D/b.json" && ok "belm psnr inf" || bad "belm psnr"

# Every method and the trdi schedule run.
for m in ddim npi renoise gnri fpi aidi edict bdia belm; do
  "$T" reconstruct --method "$m" --schedule trdi --steps 50 --json >/dev/null || bad "$m trdi"
done
ok "all methods with trdi"
"$T" reconstruct --timesteps 901,601,301,1 --stepping consistent --json >"$D/c.json" || bad "explicit list"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["timesteps"]==[901,601,301,1] and j["stepping"]=="consistent"' "$D/c.json" && ok "explicit list" || bad "explicit list json"

# Bad input: exit 2, exactly one line on stderr, no output file.
expect2() {
  local what="$1"; shift
  rm -f "$D/o.png"
  "$T" "$@" >/dev/null 2>"$D/e"
  local rc=$?
  local lines
  lines=$(wc -l <"$D/e")
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -e "$D/o.png" ]; then ok "$what"; else bad "$what (rc $rc, $lines lines: $(cat "$D/e"))"; fi
}
printf 'not an image at all' >"$D/corrupt.png"
: >"$D/empty.png"
head -c 60 "$D/r.png" >"$D/trunc.png"
expect2 "corrupt image" reconstruct --image "$D/corrupt.png" --out "$D/o.png"
expect2 "zero-size image" reconstruct --image "$D/empty.png" --out "$D/o.png"
expect2 "truncated image" reconstruct --image "$D/trunc.png" --out "$D/o.png"
expect2 "missing image" reconstruct --image "$D/nope.png" --out "$D/o.png"
expect2 "unknown method" reconstruct --method ddpm --out "$D/o.png"
expect2 "timesteps with schedule trdi" reconstruct --schedule trdi --timesteps 901,1 --out "$D/o.png"
expect2 "timesteps with steps" reconstruct --steps 10 --timesteps 901,1 --out "$D/o.png"
expect2 "spacing without trdi" reconstruct --spacing 1.1 --out "$D/o.png"
expect2 "negative steps" reconstruct --steps -5 --out "$D/o.png"
expect2 "zero steps" reconstruct --steps 0 --out "$D/o.png"
expect2 "non-monotone timesteps" reconstruct --timesteps 100,500,300 --out "$D/o.png"
expect2 "infeasible trdi window" reconstruct --schedule trdi --window 40 --out "$D/o.png"
expect2 "method flag for another method" reconstruct --method ddim --edict-p 0.9 --out "$D/o.png"
expect2 "corrected for ddim" reconstruct --corrected --out "$D/o.png"
expect2 "unknown prompt label" reconstruct --prompt unicorn --out "$D/o.png"
expect2 "bad output extension" reconstruct --out "$D/o.bmp"
expect2 "unknown option" reconstruct --frobnicate --out "$D/o.png"
expect2 "bad guidance" reconstruct --guidance nan --out "$D/o.png"
"$T" reconstruct --help | grep -q -- "--inversion-guidance" && ok "help" || bad "help"
exit $fail
