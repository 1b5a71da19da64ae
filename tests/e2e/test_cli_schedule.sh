#!/usr/bin/env bash
# test_cli_schedule.sh -- `trdi schedule` end to end: valid JSON on stdout, every visible reference
# record reproduced through the CLI, --model / --plain / --stepping / --adaptive outputs, help
# texts, and bad arguments (exit 2, nothing on stdout, exactly one line on stderr).
# Usage: bash test_cli_schedule.sh <trdi binary> <tests/data dir>
set -u
TRDI=${1:?trdi binary}
DATA=${2:?tests/data dir}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run ARGS...: runs trdi schedule, leaves stdout/stderr in $tmp/out, $tmp/err and the status in $rc
run() {
    "$TRDI" schedule "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

# py EXPR-script: python3 with the JSON output loaded as `d`; exits non-zero if an assert fails
check_json() {
    python3 -c "import json,sys; d=json.load(open('$tmp/out')); $1" 2>>"$tmp/pyerr"
}

# --- default run: SD 1.5 defaults, TRDI at (50, 1.05, 8), the authors' table -------------------
run
if [ "$rc" = 0 ] && check_json "
assert len(d['timesteps']) == 50 and len(d['init']) == 50 and len(d['rescaled']) == 50
assert all(a > b for a, b in zip(d['timesteps'], d['timesteps'][1:]))
assert all(1 <= t <= 999 for t in d['timesteps'])
assert d['source'] == 'authors_sd_table' and isinstance(d['cost'], float)
assert d['config']['beta_schedule'] == 'scaled_linear' and d['config']['num_train_timesteps'] == 1000
assert d['trdi'] == {'steps': 50, 'spacing': 1.05, 'window': 8, 'init': 'leading', 'adaptive': 'none', 'adaptive_match': False}
"; then ok; else bad "default run (rc=$rc)"; fi
[ ! -s "$tmp/err" ] && ok || bad "default run wrote to stderr"
cp "$tmp/out" "$tmp/default.json"

# --- every visible reference record, through the CLI -------------------------------------------
python3 - "$DATA/schedules-visible.jsonl" >"$tmp/cases" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get('kind') != 'trdi':
        continue
    print(r['steps'], r['spacing'], r['window'], r['mode'], json.dumps(r, separators=(',', ':')))
EOF
ncases=0
while read -r n g w mode rec; do
    ncases=$((ncases + 1))
    run --steps "$n" --spacing "$g" --window "$w" --init "$mode"
    echo "$rec" >"$tmp/rec"
    if echo "$rec" | grep -q '"error"'; then
        [ "$rc" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "record $n $g $w $mode should fail"
    elif [ "$rc" = 0 ] && check_json "
r = json.load(open('$tmp/rec'))
for k in ('init', 'rescaled', 'timesteps'):
    assert d[k] == r[k], k
"; then ok; else bad "record $n $g $w $mode (rc=$rc)"; fi
done <"$tmp/cases"
[ "$ncases" -ge 8 ] && ok || bad "read only $ncases reference records"

# --- --model: the model's own schedule (identical for SD 1.5), and it says so ------------------
run --model "$DATA/sd15-tiny/model"
if [ "$rc" = 0 ] && check_json "
ref = json.load(open('$tmp/default.json'))
assert d['source'] == 'model' and d['model'].endswith('sd15-tiny/model')
assert d['timesteps'] == ref['timesteps'] and d['cost'] == ref['cost']
"; then ok; else bad "--model (rc=$rc)"; fi
run --model "$DATA/sd15-tiny/model/scheduler/scheduler_config.json" --steps 10
[ "$rc" = 0 ] && check_json "assert len(d['timesteps']) == 10" && ok || bad "--model FILE"
run --beta-schedule linear --beta-start 0.0001 --beta-end 0.02 --steps 20 --window 4
[ "$rc" = 0 ] && check_json "assert d['source'] == 'flags' and d['config']['beta_schedule'] == 'linear'" && ok || bad "noise flags"

# --- --plain: diffusers' set_timesteps lists, from their rules ---------------------------------
run --plain
[ "$rc" = 0 ] && check_json "assert d['timesteps'] == [k * 20 + 1 for k in range(49, -1, -1)] and 'init' not in d" && ok || bad "--plain leading"
run --plain --init trailing --steps 4
[ "$rc" = 0 ] && check_json "assert d['timesteps'] == [round(1000 - k * 250) - 1 for k in range(4)]" && ok || bad "--plain trailing"
run --plain --init linspace --steps 10
[ "$rc" = 0 ] && check_json "assert d['timesteps'][0] == 999 and d['timesteps'][-1] == 0 and len(d['timesteps']) == 10" && ok || bad "--plain linspace"
run --plain --steps 10 --steps-offset 0
[ "$rc" = 0 ] && check_json "assert d['timesteps'][-1] == 0 and d['timesteps'][0] == 900" && ok || bad "--plain offset 0"

# --- the authors' baseline truncates (980, not diffusers' 981) -------------------------------
run --spacing 1 --window 0
[ "$rc" = 0 ] && check_json "assert d['timesteps'][0] == 980 and d['timesteps'] == d['rescaled'] and d['init'][0] == 981" && ok || bad "baseline"

# --- --stepping: the plan ------------------------------------------------------------------------
run --steps 4 --spacing 0.9 --window 50 --stepping reference
if [ "$rc" = 0 ] && check_json "
p = d['plan']; D = 1000 // len(d['timesteps'])
assert p['stepping'] == 'reference'
for s in p['inversion']:
    assert s['to'] == s['t'] and s['from'] == (s['t'] - D if s['t'] - D >= 0 else 'final')
for s in p['sampling']:
    assert s['from'] == s['t'] and s['to'] == (s['t'] - D if s['t'] - D >= 0 else 'final')
assert [s['t'] for s in p['sampling']] == d['timesteps']
"; then ok; else bad "--stepping reference (rc=$rc)"; fi
run --stepping consistent
if [ "$rc" = 0 ] && check_json "
inv = d['plan']['inversion']
assert inv[0]['from'] == 'final' and all(b['from'] == a['to'] for a, b in zip(inv, inv[1:]))
"; then ok; else bad "--stepping consistent (rc=$rc)"; fi

# --- --adaptive ----------------------------------------------------------------------------------
run --adaptive noise --steps 4
[ "$rc" = 0 ] && check_json "assert d['cost'] is None and d['trdi']['adaptive'] == 'noise' and d['timesteps'][0] == 751 and d['timesteps'][-1] == 1" && ok || bad "--adaptive"
run --adaptive balanced --adaptive-match
[ "$rc" = 0 ] && check_json "ref = json.load(open('$tmp/default.json')); assert d['timesteps'][0] == ref['timesteps'][0] and d['timesteps'][-1] == ref['timesteps'][-1]" && ok || bad "--adaptive-match"

# --- help ----------------------------------------------------------------------------------------
"$TRDI" schedule --help >"$tmp/help" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && ok || bad "schedule --help exit $rc"
for flag in --steps --spacing --window --init --beta-schedule --beta-start --beta-end --train-steps \
    --steps-offset --adaptive --adaptive-match --model --plain --stepping --help; do
    grep -q -- "$flag " "$tmp/help" && ok || bad "--help does not document $flag"
done
"$TRDI" --help | grep -q schedule && ok || bad "trdi --help does not list schedule"

# --- bad arguments: exit 2, nothing on stdout, one line on stderr naming the cause --------------
while IFS='|' read -r args want; do
    # shellcheck disable=SC2086
    run $args
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && [ "$lines" = 1 ] && grep -q -- "$want" "$tmp/err" &&
        grep -q '^trdi schedule: ' "$tmp/err"; then
        ok
    else
        bad "'$args': rc=$rc, stderr: $(cat "$tmp/err")"
    fi
done <<'EOF'
--steps abc|--steps
--steps 0|--steps
--steps -5|--steps
--steps 1001|--steps
--steps 2.5|--steps
--steps|needs a value
--window -1|--window
--window x|--window
--spacing 0|--spacing
--spacing -1|--spacing
--spacing nan|--spacing
--spacing inf|--spacing
--spacing 1.0x|--spacing
--init middle|middle
--beta-schedule sigmoid|sigmoid
--beta-start 2|--beta-start
--beta-end nope|--beta-end
--train-steps 1|--train-steps
--train-steps 100 --steps 200|--steps
--steps-offset -1|--steps-offset
--adaptive balance|balance
--adaptive-match|--adaptive
--stepping neighbour|neighbour
--model /nonexistent/dir|/nonexistent/dir
--frobnicate|--frobnicate
extra|extra
--plain --window 3|--plain
--init linspace|linspace
--steps 1|at least 2
--steps 50 --window 15|window 15
--steps 61 --init trailing|trailing
--plain --steps 61 --init trailing|61
EOF

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
