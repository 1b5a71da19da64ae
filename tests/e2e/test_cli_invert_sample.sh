#!/usr/bin/env bash
# e2e: `trdi invert` then `trdi sample` through files reproduces `trdi reconstruct` exactly; latent
# and trajectory files have the expected tensors; mismatched shapes and missing aux are rejected.
set -u
T="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
# Tensor names, dtypes and shapes from a safetensors header (8-byte length + JSON), sorted.
names() {
  local n
  n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
  tail -c +9 "$1" | head -c "$n" | grep -o '"[^"]*":{"dtype":"[A-Z0-9_]*","shape":\[[0-9,]*\]' |
    sed -E 's/^"([^"]*)":\{"dtype":"([^"]*)","shape":\[([0-9,]*)\]$/\1 \2 [\3]/; s/,/, /g' | sort
}

for m in ddim edict belm renoise; do
  g=1; [ "$m" = ddim ] && g=1.2
  "$T" invert --method $m --steps 20 --out "$D/z.safetensors" --trajectory "$D/ti.safetensors" >/dev/null || bad "$m invert"
  "$T" sample --method $m --steps 20 --guidance $g --latent-in "$D/z.safetensors" --out "$D/s.png" --out-latent "$D/c.safetensors" --trajectory "$D/ts.safetensors" >/dev/null || bad "$m sample"
  "$T" reconstruct --method $m --steps 20 --out "$D/r.png" >/dev/null || bad "$m reconstruct"
  cmp -s "$D/s.png" "$D/r.png" && ok "$m: invert + sample = reconstruct" || bad "$m: images differ"
  names "$D/z.safetensors" >"$D/zn"
  if [ $m = ddim ] || [ $m = renoise ]; then want="latent F32 [1, 3, 32, 32]"; else want=$'latent F32 [1, 3, 32, 32]\nlatent_aux F32 [1, 3, 32, 32]'; fi
  [ "$(cat "$D/zn")" = "$want" ] && ok "$m latent tensors" || bad "$m latent tensors: $(cat "$D/zn")"
done
names "$D/ti.safetensors" >"$D/tn"
[ "$(wc -l <"$D/tn")" -eq 20 ] && head -1 "$D/tn" | grep -q "^inv.00.latents_out F32 \[1, 3, 32, 32\]" && grep -q "^inv.19.latents_out" "$D/tn" && ok "inversion trajectory names" || bad "inversion trajectory: $(head -2 "$D/tn")"
names "$D/ts.safetensors" | grep -c "^smp\.[0-9][0-9]\.latents_out" | grep -q "^20$" && ok "sampling trajectory names" || bad "sampling trajectory"
names "$D/c.safetensors" | grep -q "^latent F32" && ok "clean latent" || bad "clean latent"
# invert from a clean latent
"$T" invert --latent-in "$D/c.safetensors" --steps 20 --out "$D/z2.safetensors" --json >"$D/j.json" || bad "invert from latent"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["nfe"]==20 and j["out"]' "$D/j.json" && ok "invert json" || bad "invert json"

expect2() {
  local what="$1" out="$2"; shift 2
  rm -f "$out"
  "$T" "$@" >/dev/null 2>"$D/e"
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$D/e")" -eq 1 ] && [ ! -e "$out" ]; then ok "$what"; else bad "$what (rc $rc: $(cat "$D/e"))"; fi
}
"$T" invert --size 16 --steps 5 --out "$D/z16.safetensors" >/dev/null || bad "invert size 16"
expect2 "mismatched latent shape (sample)" "$D/o.png" sample --latent-in "$D/z16.safetensors" --out "$D/o.png"
expect2 "mismatched latent shape (invert)" "$D/o.safetensors" invert --latent-in "$D/z16.safetensors" --out "$D/o.safetensors"
"$T" invert --method ddim --steps 5 --out "$D/zd.safetensors" >/dev/null || bad "invert ddim"
expect2 "belm without latent_aux" "$D/o.png" sample --method belm --steps 5 --latent-in "$D/zd.safetensors" --out "$D/o.png"
expect2 "trajectory file is not a latent" "$D/o.png" sample --latent-in "$D/ti.safetensors" --out "$D/o.png"
printf 'garbage' >"$D/g.safetensors"
expect2 "corrupt latent" "$D/o.png" sample --latent-in "$D/g.safetensors" --out "$D/o.png"
expect2 "sample without outputs" "$D/o.png" sample --latent-in "$D/zd.safetensors"
expect2 "invert without --out" "$D/o.png" invert
expect2 "invert with image and latent" "$D/o.safetensors" invert --image "$D/s.png" --latent-in "$D/c.safetensors" --out "$D/o.safetensors"
expect2 "unknown method" "$D/o.safetensors" invert --method foo --out "$D/o.safetensors"
# Sampling a latent with another method than it was inverted with warns (and still runs).
"$T" sample --method ddim --steps 5 --latent-in "$D/z.safetensors" --out-latent "$D/w.safetensors" 2>"$D/e" >/dev/null || bad "mismatched method sample"
grep -q "warning: .* inverted with method renoise, sampling with ddim" "$D/e" && ok "method mismatch warning" || bad "no warning: $(cat "$D/e")"
exit $fail
