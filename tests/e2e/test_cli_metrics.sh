#!/usr/bin/env bash
# test_cli_metrics.sh -- end-to-end test of `trdi metrics`: on every reference pair of
# tests/data/metrics (copied from shared/refdata/metrics) with its PIE-Bench mask and the seeded
# squeeze LPIPS weights, `--json` must print exactly the documented fields with the upstream
# values of metrics.tsv (psnr = scikit-image's, masked psnr = torchmetrics', "inf" for identical
# images, null for an empty region and for LPIPS without weights); a too-small pair gives null for
# the metrics upstream refuses; bad arguments / files fail with the documented exit statuses.
# Usage: test_cli_metrics.sh <trdi binary> <tests/data dir>
set -u
trdi="$1"
data="$2/metrics"
tsv="$data/metrics.tsv"
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check <description> <condition-exit-status>
    if [ "$2" -eq 0 ]; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: $1" >&2; fi
}

# ref <pair> <metric>: "kind value" from metrics.tsv (value = the decimal column, shortest repr;
# for kind str the detail string).
ref() {
    awk -F'\t' -v p="$1" -v m="$2" '$1 == p && $2 == m { print $3, ($3 == "str" ? $6 : $5); exit }' "$tsv"
}
# field <json> <key>: the raw JSON value of key (number, "string" or null).
field() {
    printf '%s\n' "$1" | grep -o "\"$2\":[^,}]*" | head -1 | sed "s/^\"$2\"://"
}
# near <got> <want> <rtol> <atol>: |got - want| <= atol + rtol |want|
near() {
    awk -v g="$1" -v w="$2" -v r="$3" -v a="$4" 'BEGIN {
        if (g !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) exit 1
        d = g - w; if (d < 0) d = -d; aw = w < 0 ? -w : w; exit !(d <= a + r * aw) }'
}
# expect <pair> <json> <key> <ref metric> <rtol> <atol>
expect() {
    local got kind want
    got=$(field "$2" "$3")
    read -r kind want <<<"$(ref "$1" "$4")"
    case "$kind" in
    float) near "$got" "$want" "$5" "$6"; check "$1 $3 = $got, upstream $4 = $want" $? ;;
    inf) [ "$got" = '"inf"' ]; check "$1 $3 = $got, want \"inf\"" $? ;;
    str) [ "$got" = null ]; check "$1 $3 = $got, want null (upstream \"$want\")" $? ;;
    *) check "$1 $3: no reference $4 (kind '$kind')" 1 ;;
    esac
}

# The fields, in order, with a mask (without one: the first seven).
names="psnr mse ssim_skimage ssim_torchmetrics lpips_alex lpips_squeeze lpips_vgg"
keys_full=$(for n in $names; do printf '%s ' "$n"; done)
keys_masked="$keys_full$(for n in $names; do printf '%s_unedited ' "$n"; done)$(for n in $names; do printf '%s_edited ' "$n"; done)"
keys_of() { printf '%s\n' "$1" | grep -o '"[a-z_]*":' | tr -d '":' | tr '\n' ' '; }

# Tolerances as tests/golden/test_metrics_eval.c and test_lpips.c justify them: scikit-image
# float64 1e-9 relative; torchmetrics float32 MSE / PSNR / LPIPS 1e-5 relative; torchmetrics SSIM
# 2e-4 absolute (float32 cancellation in E[x^2] - mu^2 upstream).
squeeze="$data/lpips_squeeze_seeded.safetensors"
n_pairs=0
for pair in $(awk -F'\t' '!/^#/ { print $1 }' "$tsv" | sort -u); do
    a="$data/images/${pair}_a.png"
    b="$data/images/${pair}_b.png"
    mask="$data/images/${pair}_mask.png"
    [ -f "$a" ] || continue
    n_pairs=$((n_pairs + 1))
    # LPIPS on two pairs only (tests/golden/test_lpips.c covers every pair): keeps this test short.
    lp=()
    case "$pair" in v2_perturbed | v4_identical) lp=(--lpips-weights "$squeeze") ;; esac
    out=$("$trdi" metrics "$a" "$b" --mask "$mask" "${lp[@]}" --json)
    check "$pair: exit status $?" $?
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [ "${out:0:1}" = "{" ]
    check "$pair: one JSON object per line" $?
    [ "$(keys_of "$out")" = "$keys_masked" ]
    check "$pair: fields '$(keys_of "$out")'" $?
    expect "$pair" "$out" psnr exp.skimage_psnr 1e-9 0
    expect "$pair" "$out" ssim_skimage exp.skimage_ssim 1e-9 0
    [ ${#lp[@]} -gt 0 ] && expect "$pair" "$out" lpips_squeeze lpips.squeeze 1e-5 0
    for r in "" _unedit_part _edit_part; do
        case "$r" in "") s="" ;; _unedit_part) s=_unedited ;; *) s=_edited ;; esac
        expect "$pair" "$out" "mse$s" "eval.mse$r" 1e-5 0
        expect "$pair" "$out" "ssim_torchmetrics$s" "eval.ssim$r" 0 2e-4
        if [ ${#lp[@]} -gt 0 ]; then
            expect "$pair" "$out" "lpips_squeeze$s" "eval.lpips$r" 1e-5 0
        else
            [ "$(field "$out" "lpips_squeeze$s")" = null ]
            check "$pair: lpips_squeeze$s without weights is null" $?
        fi
        [ -n "$s" ] && expect "$pair" "$out" "psnr$s" "eval.psnr$r" 1e-5 0
        [ "$(field "$out" "lpips_alex$s")" = null ] && [ "$(field "$out" "lpips_vgg$s")" = null ]
        check "$pair: LPIPS without weights is null" $?
    done
    # without a mask: the seven full-image fields, same values
    plain=$("$trdi" metrics "$a" "$b" --json)
    [ "$(keys_of "$plain")" = "$keys_full" ] && [ "$(field "$plain" psnr)" = "$(field "$out" psnr)" ]
    check "$pair: unmasked fields" $?
done
[ "$n_pairs" -ge 4 ]
check "at least 4 reference pairs ($n_pairs)" $?

# Identical images: psnr "inf", mse 0, ssim 1 and LPIPS exactly 0.
id="$data/images/v4_identical_a.png"
out=$("$trdi" metrics "$id" "$id" --lpips-weights "$squeeze" --json)
[ "$(field "$out" psnr)" = '"inf"' ] && [ "$(field "$out" mse)" = 0 ] &&
    [ "$(field "$out" ssim_torchmetrics)" = 1 ] && [ "$(field "$out" lpips_squeeze)" = 0 ]
check "identical images: $out" $?

# Too small (8x8): scikit-image SSIM (needs 11) and LPIPS squeeze (needs 17) are null, the
# torchmetrics SSIM (needs 6) is a number.
out=$("$trdi" metrics "$data/small_8x8_a.png" "$data/small_8x8_b.png" --lpips-weights "$squeeze" --json)
check "8x8: exit status $?" $?
[ "$(field "$out" ssim_skimage)" = null ] && [ "$(field "$out" lpips_squeeze)" = null ] &&
    near "$(field "$out" ssim_torchmetrics)" 0.5 1 0
check "8x8: too-small metrics are null: $out" $?

# Text output: one `name value` line per field.
txt=$("$trdi" metrics "$data/small_8x8_a.png" "$data/small_8x8_b.png")
[ "$(printf '%s\n' "$txt" | wc -l)" -eq 7 ] && printf '%s\n' "$txt" | grep -q '^ssim_skimage null (image too small)$'
check "text output: $txt" $?

# Errors.
v2a="$data/images/v2_perturbed_a.png"
v2b="$data/images/v2_perturbed_b.png"
"$trdi" metrics "$v2a" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ]
check "one image: exit 2" $?
"$trdi" metrics "$v2a" "$v2b" --bogus >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--bogus" "$tmp/err"
check "unknown option: exit 2 naming it" $?
"$trdi" metrics "$v2a" "$tmp/missing.png" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "missing.png" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]
check "missing image: exit 2, one line naming it" $?
printf 'not an image' >"$tmp/corrupt.png"
"$trdi" metrics "$tmp/corrupt.png" "$v2b" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "REFERENCE: .*corrupt.png" "$tmp/err"
check "corrupt reference: exit 2 naming it" $?
"$trdi" metrics "$v2a" "$v2b" --mask "$tmp/missing_mask.png" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "missing_mask.png" "$tmp/err"
check "missing mask: exit 2 naming it" $?
"$trdi" metrics "$v2a" "$v2b" --lpips-weights "$tmp/corrupt.png" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "corrupt.png" "$tmp/err"
check "corrupt LPIPS weights: exit 2 naming the file" $?
"$trdi" metrics "$v2a" "$data/images/v1_gradients_b.png" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "64x48" "$tmp/err"
check "images of different sizes: exit 2 with both sizes ($(cat "$tmp/err"))" $?
"$trdi" metrics "$v2a" "$v2b" --mask "$data/images/v1_gradients_mask.png" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "v1_gradients_mask.png is 64x64" "$tmp/err"
check "mask of the wrong size: exit 2 naming it ($(cat "$tmp/err"))" $?
"$trdi" metrics "$v2a" "$v2b" --lpips-weights "$data/lpips_lin_v0.1_squeeze.safetensors" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "no LPIPS backbone" "$tmp/err"
check "weights without a backbone: exit 2 ($(cat "$tmp/err"))" $?
"$trdi" metrics "$v2a" "$v2b" --lpips-weights "$squeeze" --lpips-weights "$squeeze" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "both hold LPIPS squeeze" "$tmp/err"
check "two squeeze weight files: exit 2" $?
"$trdi" metrics --help | grep -q "lpips-weights"
check "--help" $?

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
