#!/usr/bin/env bash
# e2e: the run commands on a real (tiny, SD 1.5-structured) diffusers folder: reconstruct, edit,
# invert + sample through files, --vae-sample, --variant, and the errors a Stable Diffusion model gives
# (GNRI needs gradients, sizes not multiples of 8, --vae-sample on the mixture).
set -u
T="$1"
DATA="$2"
M="$DATA/sd15-tiny/model"
IMG="$DATA/sd15-tiny/image64.png"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
P="a photograph of an astronaut riding a horse"

"$T" reconstruct --model "$M" --image "$IMG" --size 64 --prompt "$P" --steps 10 --guidance 2 \
    --json --out "$D/r.png" >"$D/r.json" || bad "reconstruct exit $?"
python3 - "$D/r.json" <<'PY' && ok "reconstruct json" || bad "reconstruct json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["width"] == 64 and j["height"] == 64, j
assert j["timesteps"] == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1], j["timesteps"]
# inversion at g = 0 (one pass per step), sampling at g = 2 (a batch of two per step)
assert j["nfe"] == 30 and j["nfe_inversion"] == 10, j
assert 0 < j["mse"] < 1 and j["psnr"] > 0
PY
[ -s "$D/r.png" ] && ok "image written" || bad "no image"

# invert + sample through files equals reconstruct (same latent path, same guidance).
"$T" invert --model "$M" --image "$IMG" --size 64 --prompt "$P" --steps 10 --out "$D/z.safetensors" \
    2>"$D/err" || bad "invert: $(cat "$D/err")"
"$T" sample --model "$M" --size 64 --prompt "$P" --steps 10 --guidance 2 --latent-in "$D/z.safetensors" \
    --out "$D/s.png" 2>"$D/err" || bad "sample: $(cat "$D/err")"
cmp -s "$D/r.png" "$D/s.png" && ok "invert + sample == reconstruct" || bad "invert + sample differs"

# The seeded posterior sample changes the result and is reproducible.
"$T" reconstruct --model "$M" --image "$IMG" --size 64 --prompt "$P" --steps 4 --vae-sample 3 \
    --out "$D/v1.png" >/dev/null || bad "vae-sample run"
"$T" reconstruct --model "$M" --image "$IMG" --size 64 --prompt "$P" --steps 4 --vae-sample 3 \
    --out "$D/v2.png" >/dev/null || bad "vae-sample rerun"
"$T" reconstruct --model "$M" --image "$IMG" --size 64 --prompt "$P" --steps 4 \
    --out "$D/v0.png" >/dev/null || bad "mean run"
cmp -s "$D/v1.png" "$D/v2.png" && ok "vae-sample deterministic" || bad "vae-sample not deterministic"
cmp -s "$D/v1.png" "$D/v0.png" && bad "vae-sample equals the mean" || ok "vae-sample differs from mean"

# Editing runs with a target prompt.
"$T" edit --model "$M" --image "$IMG" --size 64 --prompt "a horse" --target-prompt "a cat" \
    --schedule trdi --steps 10 --out "$D/e.png" >/dev/null 2>&1 && [ -s "$D/e.png" ] \
    && ok "edit" || bad "edit"

# Errors: one line on stderr, exit 2, no output.
expect_usage() {
    local what="$1"; shift
    "$T" "$@" >/dev/null 2>"$D/err"
    local rc=$?
    local lines
    lines=$(wc -l <"$D/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -e "$D/never.png" ]; then ok "$what"
    else bad "$what: rc=$rc lines=$lines $(cat "$D/err")"; fi
}
expect_usage "gnri needs gradients" reconstruct --model "$M" --image "$IMG" --size 64 --method gnri \
    --steps 4 --out "$D/never.png"
grep -q "gradients" "$D/err" && ok "gradient message" || bad "gradient message: $(cat "$D/err")"
expect_usage "size not a multiple of 8" reconstruct --model "$M" --image "$IMG" --size 60 --steps 4 \
    --out "$D/never.png"
expect_usage "vae-sample on the mixture" reconstruct --vae-sample 1 --steps 4 --out "$D/never.png"
expect_usage "bad vae-sample seed" reconstruct --model "$M" --vae-sample x --out "$D/never.png"

# --variant picks the weights file: fp16 weights give a slightly different reconstruction than
# fp32 (auto picks fp32 here); a variant the folder lacks, or an unknown one, is an input error.
for v in auto fp32 fp16; do
    "$T" reconstruct --model "$M" --image "$IMG" --size 64 --steps 4 --variant $v --json \
        >"$D/var_$v.json" 2>"$D/err" || bad "variant $v: $(cat "$D/err")"
done
python3 - "$D" <<'PY' && ok "variant fp16 differs a little from fp32, auto = fp32" || bad "variant results"
import json, sys
r = {v: json.load(open(f"{sys.argv[1]}/var_{v}.json"))["mse"] for v in ("auto", "fp32", "fp16")}
assert r["auto"] == r["fp32"], r
assert r["fp16"] != r["fp32"] and abs(r["fp16"] - r["fp32"]) < 0.05 * r["fp32"], r
PY
expect_usage "variant missing from the folder" reconstruct --model "$M" --image "$IMG" --size 64 \
    --variant bf16 --out "$D/never.png"
grep -q "bf16" "$D/err" && ok "missing variant named" || bad "missing variant: $(cat "$D/err")"
expect_usage "unknown variant" reconstruct --model "$M" --variant fp8 --out "$D/never.png"

exit $fail
