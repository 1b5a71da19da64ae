#!/usr/bin/env bash
# test_cli_tokenize.sh -- end-to-end test of `trdi tokenize`: for every ASCII prompt of
# tests/data/sd15-tiny/tokenizer.json (the reference file; prompts with JSON escapes are skipped
# because plain bash cannot unescape them), `--json` must print the reference input_ids, length and
# truncated flag; truncation must warn on stderr; an SDXL-shaped folder (tokenizer + tokenizer_2)
# must give both objects; bad arguments must fail with exit status 2.
# Usage: test_cli_tokenize.sh <trdi binary> <tests/data dir>
set -u
trdi="$1"
data="$2"
ref="$data/sd15-tiny/tokenizer.json"
model="$data/sd15-tiny/model"
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check <description> <condition-exit-status>
    if [ "$2" -eq 0 ]; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: $1" >&2; fi
}

# Field of record k of the pretty-printed reference: the array following `"name": [` (one value per
# line) as a comma-separated list, or a scalar `"name": value`.
ref_array() { # ref_array <index> <name>
    awk -v want="$1" -v name="$2" '
        /"index": / { gsub(/[^0-9]/, "", $0); idx = $0; next }
        idx == want && $0 ~ "\"" name "\": \\[" { on = 1; out = ""; next }
        on && /^ *\]/ { print out; exit }
        on { v = $0; gsub(/[ ,]/, "", v); out = (out == "" ? v : out "," v) }' "$ref"
}
ref_scalar() { # ref_scalar <index> <name>
    awk -v want="$1" -v name="$2" '
        /"index": / { gsub(/[^0-9]/, "", $0); idx = $0; next }
        idx == want && $0 ~ "^ *\"" name "\": " { sub("^ *\"" name "\": ", ""); sub(/,$/, ""); print; exit }' "$ref"
}

n_checked=0
for k in $(grep -o '"index": [0-9]*' "$ref" | grep -o '[0-9]*$'); do
    raw=$(ref_scalar "$k" prompt)
    case "$raw" in *\\*) continue ;; esac # JSON escapes: skipped here (the golden C test covers them)
    prompt=${raw#\"}
    prompt=${prompt%\"}
    out=$("$trdi" tokenize --model "$model" --prompt "$prompt" --json 2>"$tmp/err")
    check "prompt $k: exit status" $?
    got_ids=$(printf '%s' "$out" | sed -n 's/.*"tokenizer":{"input_ids":\[\([0-9,]*\)\].*/\1/p')
    [ -n "$got_ids" ] && [ "$got_ids" = "$(ref_array "$k" input_ids)" ]
    check "prompt $k: input_ids" $?
    printf '%s' "$out" | grep -q "\"length\":$(ref_scalar "$k" length),"
    check "prompt $k: length" $?
    trunc=$(ref_scalar "$k" truncated)
    printf '%s' "$out" | grep -q "\"truncated\":$trunc"
    check "prompt $k: truncated flag" $?
    if [ "$trunc" = "true" ]; then grep -q "warning" "$tmp/err"; else [ ! -s "$tmp/err" ]; fi
    check "prompt $k: truncation warning only when truncated" $?
    n_checked=$((n_checked + 1))
done
[ "$n_checked" -ge 3 ]
check "at least 3 reference prompts checked (got $n_checked)" $?

# Text output lists the ids and their BPE strings.
"$trdi" tokenize --model "$model" --prompt "a photograph" >"$tmp/txt"
check "text output: exit status" $?
grep -q "photograph</w>" "$tmp/txt"
check "text output shows BPE strings" $?

# SDXL layout: a second tokenizer folder gives a "tokenizer_2" object.
mkdir -p "$tmp/sdxl"
ln -s "$(cd "$model/tokenizer" && pwd)" "$tmp/sdxl/tokenizer"
ln -s "$(cd "$model/tokenizer" && pwd)" "$tmp/sdxl/tokenizer_2"
out=$("$trdi" tokenize --model "$tmp/sdxl" --prompt "a cat" --json)
check "sdxl: exit status" $?
printf '%s' "$out" | grep -q '"tokenizer_2":{"input_ids":\['
check "sdxl: tokenizer_2 object" $?

# Bad arguments: exit status 2.
"$trdi" tokenize --prompt "x" >/dev/null 2>&1
[ $? -eq 2 ]
check "missing --model -> 2" $?
"$trdi" tokenize --model "$model" >/dev/null 2>&1
[ $? -eq 2 ]
check "missing --prompt -> 2" $?
"$trdi" tokenize --model "$model" --prompt x --max-length 1 >/dev/null 2>&1
[ $? -eq 2 ]
check "--max-length 1 -> 2" $?
"$trdi" tokenize --model "$tmp/none" --prompt x >/dev/null 2>&1
[ $? -eq 2 ]
check "missing model folder -> 2" $?
"$trdi" tokenize --model "$model/tokenizer" --prompt x >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'no tokenizer/ folder' "$tmp/err"
check "folder without tokenizer/ -> 2, one line" $?

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
