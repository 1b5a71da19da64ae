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

# save NAME ARGS...: runs trdi schedule, expects exit 0 and a quiet stderr, keeps stdout as
# $tmp/NAME.json for the single python pass below (python starts slowly on a loaded machine).
save() {
    local name=$1
    shift
    run "$@"
    if [ "$rc" = 0 ] && [ ! -s "$tmp/err" ]; then ok; else bad "$name: rc=$rc $(cat "$tmp/err")"; fi
    cp "$tmp/out" "$tmp/$name.json"
}

save default
save model --model "$DATA/sd15-tiny/model"
save model_file --model "$DATA/sd15-tiny/model/scheduler/scheduler_config.json" --steps 10
save flags --beta-schedule linear --beta-start 0.0001 --beta-end 0.02 --steps 20 --window 4
save plain --plain
save plain_trailing --plain --init trailing --steps 4
save plain_linspace --plain --init linspace --steps 10
save plain_offset0 --plain --steps 10 --steps-offset 0
save baseline --spacing 1 --window 0
save plan_ref --steps 4 --spacing 0.9 --window 50 --stepping reference
save plan_cons --stepping consistent
save adaptive --adaptive noise --steps 4
save adaptive_match --adaptive balanced --adaptive-match

# every visible reference record, through the CLI
python3 - "$DATA/schedules-visible.jsonl" >"$tmp/cases" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    r = json.loads(line)
    if r.get('kind') == 'trdi':
        print(i, r['steps'], r['spacing'], r['window'], r['mode'], 'error' in r)
PY
ncases=0
while read -r i n g w mode is_err; do
    ncases=$((ncases + 1))
    if [ "$is_err" = True ]; then
        run --steps "$n" --spacing "$g" --window "$w" --init "$mode"
        [ "$rc" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "record $i should fail"
    else
        save "rec$i" --steps "$n" --spacing "$g" --window "$w" --init "$mode"
    fi
done <"$tmp/cases"
[ "$ncases" -ge 8 ] && ok || bad "read only $ncases reference records"

# One python pass over all outputs; prints one line per failed check, then "CHECKS n".
python3 - "$tmp" "$DATA/schedules-visible.jsonl" >"$tmp/py" 2>&1 <<'PY'
import json, os, sys
tmp, visible = sys.argv[1], sys.argv[2]
J = lambda name: json.load(open(os.path.join(tmp, name + '.json')))
checks = 0
def check(name, fn):
    global checks
    checks += 1
    try:
        fn()
    except Exception as e:
        print('FAIL %s: %r' % (name, e))

def default():
    d = J('default')
    assert len(d['timesteps']) == 50 and len(d['init']) == 50 and len(d['rescaled']) == 50
    assert all(a - b >= 2 for a, b in zip(d['timesteps'], d['timesteps'][1:]))
    assert all(1 <= t <= 999 for t in d['timesteps'])
    assert d['source'] == 'authors_sd_table' and isinstance(d['cost'], float)
    assert d['config']['beta_schedule'] == 'scaled_linear' and d['config']['num_train_timesteps'] == 1000
    assert d['trdi'] == {'steps': 50, 'spacing': 1.05, 'window': 8, 'init': 'leading',
                         'adaptive': 'none', 'adaptive_match': False}
check('default', default)

def records():
    for i, line in enumerate(open(visible)):
        r = json.loads(line)
        if r.get('kind') != 'trdi' or 'error' in r:
            continue
        d = J('rec%d' % i)
        for k in ('init', 'rescaled', 'timesteps'):
            assert d[k] == r[k], (i, k)
check('records', records)

def model():
    d, ref = J('model'), J('default')
    assert d['source'] == 'model' and d['model'].endswith('sd15-tiny/model')
    assert d['timesteps'] == ref['timesteps'] and d['cost'] == ref['cost']
    assert len(J('model_file')['timesteps']) == 10
check('model', model)

def flags():
    d = J('flags')
    assert d['source'] == 'flags' and d['config']['beta_schedule'] == 'linear'
check('flags', flags)

def plain():
    assert J('plain')['timesteps'] == [k * 20 + 1 for k in range(49, -1, -1)]
    assert 'init' not in J('plain')
    assert J('plain_trailing')['timesteps'] == [round(1000 - k * 250) - 1 for k in range(4)]
    d = J('plain_linspace')['timesteps']
    assert d[0] == 999 and d[-1] == 0 and len(d) == 10
    d = J('plain_offset0')['timesteps']
    assert d[0] == 900 and d[-1] == 0
check('plain', plain)

def baseline():
    d = J('baseline')  # the authors' baseline truncates: 980, not diffusers' 981
    assert d['timesteps'][0] == 980 and d['timesteps'] == d['rescaled'] and d['init'][0] == 981
check('baseline', baseline)

def plan_ref():
    d = J('plan_ref')
    p, D = d['plan'], 1000 // len(d['timesteps'])
    assert p['stepping'] == 'reference'
    for s in p['inversion']:
        assert s['to'] == s['t'] and s['from'] == (s['t'] - D if s['t'] - D >= 0 else 'final')
    for s in p['sampling']:
        assert s['from'] == s['t'] and s['to'] == (s['t'] - D if s['t'] - D >= 0 else 'final')
    assert [s['t'] for s in p['sampling']] == d['timesteps']
check('plan_ref', plan_ref)

def plan_cons():
    inv = J('plan_cons')['plan']['inversion']
    assert inv[0]['from'] == 'final' and all(b['from'] == a['to'] for a, b in zip(inv, inv[1:]))
check('plan_cons', plan_cons)

def adaptive():
    d = J('adaptive')
    assert d['cost'] is None and d['trdi']['adaptive'] == 'noise'
    assert d['timesteps'][0] == 751 and d['timesteps'][-1] == 1
    m, ref = J('adaptive_match'), J('default')
    assert m['timesteps'][0] == ref['timesteps'][0] and m['timesteps'][-1] == ref['timesteps'][-1]
check('adaptive', adaptive)
print('CHECKS %d' % checks)
PY
if grep -q '^CHECKS 9$' "$tmp/py" && ! grep -q '^FAIL' "$tmp/py"; then ok; else bad "JSON checks: $(cat "$tmp/py")"; fi

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
--beta-start 0.5 --beta-end 0.1|alphas_cumprod
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
