#!/usr/bin/env bash
# e2e: `trdi mkmodel` writes a tiny random-weight diffusers folder with sd15-tiny's tensor names and
# shapes (fp32 and fp16 variants), is deterministic per seed, honours --config-json and --like,
# and rejects bad arguments with exit 2 without leaving a folder behind.
set -u
T="$1"
DATA="$2"
TINY="$DATA/sd15-tiny/model"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

"$T" mkmodel "$D/m32" --tokenizer-from "$TINY/tokenizer" --seed 5 >/dev/null && ok "tiny fp32" || bad "tiny fp32"
"$T" mkmodel "$D/m16" --preset tiny --dtype fp16 --tokenizer-from "$TINY/tokenizer" --seed 5 >/dev/null && ok "tiny fp16" || bad "tiny fp16"
python3 - "$TINY" "$D" <<'PY' && ok "names, shapes, dtypes" || bad "names, shapes, dtypes"
import json, struct, sys
def hdr(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h
ref, d = sys.argv[1], sys.argv[2]
for comp in ["text_encoder/model", "unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model"]:
    for var, folder, dt in [("", "m32", "F32"), (".fp16", "m16", "F16")]:
        a = hdr(f"{ref}/{comp}{var}.safetensors")
        b = hdr(f"{d}/{folder}/{comp}{var}.safetensors")
        assert {k: v["shape"] for k, v in a.items()} == {k: v["shape"] for k, v in b.items()}, comp
        assert all(v["dtype"] == dt for v in b.values()), comp
for f in ["unet/config.json", "vae/config.json", "text_encoder/config.json", "scheduler/scheduler_config.json", "model_index.json"]:
    assert json.load(open(f"{ref}/{f}")) == json.load(open(f"{d}/m32/{f}")), f
PY
"$T" mkmodel "$D/again" --tokenizer-from "$TINY/tokenizer" --seed 5 >/dev/null
cmp -s "$D/m32/unet/diffusion_pytorch_model.safetensors" "$D/again/unet/diffusion_pytorch_model.safetensors" && ok "same seed, same bytes" || bad "determinism"
"$T" mkmodel "$D/other" --tokenizer-from "$TINY/tokenizer" --seed 6 >/dev/null
cmp -s "$D/m32/unet/diffusion_pytorch_model.safetensors" "$D/other/unet/diffusion_pytorch_model.safetensors" && bad "seed ignored" || ok "seed changes weights"
"$T" mkmodel "$D/like" --like "$TINY" >/dev/null && [ -f "$D/like/tokenizer/merges.txt" ] && ok "--like" || bad "--like"

echo '{"unet": {"cross_attention_dim": 64}, "text_encoder": {"hidden_size": 64}}' >"$D/ov.json"
"$T" mkmodel "$D/ov" --tokenizer-from "$TINY/tokenizer" --config-json "$D/ov.json" >/dev/null && \
python3 - "$D/ov" <<'PY' && ok "--config-json" || bad "--config-json"
import json, struct, sys
with open(sys.argv[1] + "/unet/diffusion_pytorch_model.safetensors", "rb") as f:
    h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
assert h["mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"]["shape"] == [32, 64]
assert json.load(open(sys.argv[1] + "/unet/config.json"))["cross_attention_dim"] == 64
PY

# bad arguments: exit 2, a message naming the problem, nothing left behind
expect2() { # name, needle, args...
    local name="$1" needle="$2"; shift 2
    "$T" mkmodel "$@" >/dev/null 2>"$D/err"; local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$needle" "$D/err" && [ ! -e "$D/x" ]; then ok "$name"; else bad "$name (rc $rc: $(cat "$D/err"))"; fi
}
expect2 "unknown preset" "sd99" "$D/x" --preset sd99 --tokenizer-from "$TINY/tokenizer"
expect2 "bad dtype" "dtype" "$D/x" --dtype bf16 --tokenizer-from "$TINY/tokenizer"
expect2 "no tokenizer" "tokenizer-from" "$D/x"
expect2 "no output" "OUT" --tokenizer-from "$TINY/tokenizer"
echo '{"unet": {"down_block_types": ["CrossAttnDownBlock2D"]}}' >"$D/bad.json"
expect2 "inconsistent override" "up_block_types" "$D/x" --tokenizer-from "$TINY/tokenizer" --config-json "$D/bad.json"
expect2 "existing folder" "exists" "$D/m32" --tokenizer-from "$TINY/tokenizer"
[ -f "$D/m32/unet/config.json" ] && ok "existing folder kept" || bad "existing folder damaged"
"$T" mkmodel "$D/m32" --tokenizer-from "$TINY/tokenizer" --force --seed 6 >/dev/null && \
cmp -s "$D/m32/unet/diffusion_pytorch_model.safetensors" "$D/other/unet/diffusion_pytorch_model.safetensors" && ok "--force replaces" || bad "--force"
ls "$D" | grep -q "tmp-" && bad "temporaries left: $(ls "$D")" || ok "no temporaries"
exit $fail
