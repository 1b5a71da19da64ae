#!/usr/bin/env bash
# e2e: `trdi bench` over a small dataset made here (exact model): CSV, summary and charts; resume
# after an interruption (test hook --stop-after + a torn last line) without redoing or losing
# rows; shards 1/2 + 2/2 merged give the single run's summary; clear errors (exit 2) naming the
# entry for malformed manifests, missing images and masks of the wrong size.
set -u
T="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

# Three 32x32 PNGs: the built-in dataset's images (written by a tiny bench run).
"$T" bench --dataset builtin --methods ddim --schedules uniform --steps 2 --out "$D/seed" 2>"$D/e" \
    || { bad "builtin dataset run"; cat "$D/e"; }
mkdir -p "$D/ds/img"
cp "$D/seed/dataset/circle.png" "$D/ds/img/a.png"
cp "$D/seed/dataset/scene.png" "$D/ds/img/b.png"
cp "$D/seed/dataset/stripes.png" "$D/ds/img/c.png"
cat >"$D/ds/manifest.json" <<'J'
[{"image": "img/a.png", "caption": "a circle"},
 {"image": "img/b.png", "caption": ""},
 {"image": "img/c.png", "caption": ["stripes", "unused second caption"]}]
J
GRID=(--methods ddim,edict --schedules uniform,trdi --steps 6)

# --- a full run -------------------------------------------------------------------------------
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/full" 2>"$D/e" && ok "full run" \
    || { bad "full run"; cat "$D/e"; }
grep -q "ETA" "$D/e" && ok "progress lines" || bad "progress lines"
python3 - "$D/full" <<'PY' && ok "results, summary, charts" || bad "results, summary, charts"
import csv, json, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/results.csv")))
assert len(rows) == 12, len(rows)
assert {r["status"] for r in rows} == {"ok"}
assert {r["image_id"] for r in rows} == {"a", "b", "c"}
assert len({(r["image_id"], r["config"]) for r in rows}) == 12
for r in rows:
    for k in ("psnr", "mse", "ssim_skimage", "ssim_torchmetrics", "nfe", "seconds"):
        assert r[k] != "", (k, r)
    assert os.path.isfile(f'{d}/images/{r["config"]}/{r["image_id"]}.png')
s = list(csv.DictReader(open(d + "/summary.csv")))
assert len(s) == 4 and all(x["n"] == "3" for x in s)
assert {(x["method"], x["schedule"]) for x in s} == {("ddim", "uniform"), ("ddim", "trdi"), ("edict", "uniform"), ("edict", "trdi")}
# the mean is the mean of the rows
for x in s:
    v = [float(r["ssim_torchmetrics"]) for r in rows if r["config"] == x["config"]]
    assert abs(float(x["ssim_torchmetrics_mean"]) - sum(v) / 3) < 1e-9
    assert float(x["ssim_torchmetrics_ci95"]) >= 0
j = json.load(open(d + "/summary.json"))
assert len(j["configs"]) == 4 and "psnr" in j["configs"][0]["metrics"]
md = open(d + "/summary.md").read()
assert md.count("\n| ddim |") == 2 and md.count("\n| edict |") == 2, md
for c in ("psnr", "ssim_torchmetrics", "mse"):
    assert open(f"{d}/chart_{c}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PY

# --- dry run: lists, writes nothing -------------------------------------------------------------
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/dry" --dry-run >"$D/o" 2>"$D/e"
[ $? -eq 0 ] && [ "$(grep -c '^run ' "$D/o")" = 12 ] && [ ! -e "$D/dry" ] && ok "dry run" || bad "dry run"
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/full" --dry-run >"$D/o" 2>"$D/e"
[ "$(grep -c '^done ' "$D/o")" = 12 ] && [ "$(grep -c '^run ' "$D/o")" = 0 ] && ok "dry run sees finished rows" || bad "dry run on a finished folder"

# --- resume -------------------------------------------------------------------------------------
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/res" --stop-after 5 2>"$D/e"
[ $? -eq 1 ] && [ "$(($(wc -l <"$D/res/results.csv") - 1))" = 5 ] && ok "interrupted after 5 rows" || bad "stop-after"
stat -c '%n %y' "$D"/res/images/*/*.png | sort >"$D/mtimes_before"
[ "$(wc -l <"$D/mtimes_before")" = 5 ] && ok "5 images before resume" || bad "images before resume"
# a crash in the middle of a row leaves a torn last line
printf '2,c,3,edict_trdi_s6_g0_ig0,edict,tr' >>"$D/res/results.csv"
sleep 0.05
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/res" 2>"$D/e" && ok "resumed run" \
    || { bad "resumed run"; cat "$D/e"; }
grep -q "5 already present" "$D/e" && grep -q "7 run" "$D/e" && ok "resume skipped the 5 finished rows" || { bad "resume counts"; cat "$D/e"; }
stat -c '%n %y' "$D"/res/images/*/*.png | sort >"$D/mtimes_after"
[ "$(grep -c . "$D/mtimes_after")" = 12 ] && ok "12 images after resume" || bad "images after resume"
while read -r line; do grep -qxF "$line" "$D/mtimes_after" || bad "image rewritten on resume: $line"; done <"$D/mtimes_before"
python3 - "$D/res" "$D/full" <<'PY' && ok "resumed results = single run" || bad "resumed results"
import csv, sys
a = list(csv.DictReader(open(sys.argv[1] + "/results.csv")))
b = list(csv.DictReader(open(sys.argv[2] + "/results.csv")))
assert len(a) == 12 and len({(r["image_id"], r["config"]) for r in a}) == 12
drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}
key = lambda r: (r["image_id"], r["config"])
assert sorted(map(drop, a), key=key) == sorted(map(drop, b), key=key)
PY
# different settings in the same folder are refused
"$T" bench --dataset "$D/ds/manifest.json" --methods ddim,edict --schedules uniform,trdi --steps 7 --out "$D/res" 2>"$D/e"
[ $? -eq 2 ] && grep -q "other settings" "$D/e" && grep -q "steps" "$D/e" && ok "other settings refused" || { bad "settings check"; cat "$D/e"; }

# a real kill (SIGKILL) once the first rows are on disk, then a rerun
KGRID=(--methods fpi --schedules uniform,trdi --steps 50)
"$T" bench --dataset "$D/ds/manifest.json" "${KGRID[@]}" --out "$D/kill" 2>/dev/null &
pid=$!
for _ in $(seq 400); do
    [ -f "$D/kill/results.csv" ] && [ "$(wc -l <"$D/kill/results.csv")" -ge 3 ] && break
    sleep 0.02
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
n_before=$(($(wc -l <"$D/kill/results.csv") - 1))
stat -c '%n %y' "$D"/kill/images/*/*.png 2>/dev/null | sort >"$D/k_before"
"$T" bench --dataset "$D/ds/manifest.json" "${KGRID[@]}" --out "$D/kill" 2>"$D/e" || { bad "rerun after kill"; cat "$D/e"; }
grep -q -- "$n_before already present" "$D/e" && ok "rerun after kill skips the $n_before finished rows" || { bad "kill resume counts"; cat "$D/e"; }
python3 - "$D/kill" <<'PY2' && ok "after kill: 6 unique rows, 6 images" || bad "after kill"
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/results.csv")))
assert len(rows) == 6 and len({(r["image_id"], r["config"]) for r in rows}) == 6, len(rows)
for r in rows:
    assert os.path.isfile(f'{sys.argv[1]}/images/{r["config"]}/{r["image_id"]}.png')
PY2
while read -r line; do grep -qxF "$line" <(stat -c '%n %y' "$D"/kill/images/*/*.png) || bad "image rewritten after kill: $line"; done <"$D/k_before"

# --- shards + merge -------------------------------------------------------------------------------
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/s1" --shard 1/2 2>/dev/null || bad "shard 1/2"
"$T" bench --dataset "$D/ds/manifest.json" "${GRID[@]}" --out "$D/s2" --shard 2/2 2>/dev/null || bad "shard 2/2"
[ "$(($(wc -l <"$D/s1/results.csv") - 1))" = 8 ] && [ "$(($(wc -l <"$D/s2/results.csv") - 1))" = 4 ] && ok "shards split by index" || bad "shard sizes"
"$T" bench-merge "$D/merged" "$D/s2" "$D/s1" 2>"$D/e" && ok "merge" || { bad "merge"; cat "$D/e"; }
python3 - "$D/merged" "$D/full" <<'PY' && ok "merged summary = single run's" || bad "merged summary"
import csv, sys
def load(d):
    rows = list(csv.DictReader(open(d + "/summary.csv")))
    return [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows]
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a == b, (a, b)
assert len(list(csv.DictReader(open(sys.argv[1] + "/results.csv")))) == 12
PY
[ -f "$D/merged/summary.md" ] && [ -f "$D/merged/chart_psnr.png" ] && ok "merged summary files" || bad "merged files"
"$T" bench-merge "$D/m2" "$D/s1" "$D/s1" 2>"$D/e"
[ $? -eq 2 ] && grep -q "appears twice" "$D/e" && ok "duplicate rows refused" || { bad "duplicate merge"; cat "$D/e"; }
"$T" bench-merge "$D/m3" "$D/s1" "$D/seed" 2>"$D/e"
[ $? -eq 2 ] && grep -q "settings differ" "$D/e" && ok "merge of other studies refused" || { bad "merge settings"; cat "$D/e"; }
"$T" bench-merge "$D/m4" "$D/s1" "$D/no_such_shard" 2>"$D/e"
[ $? -eq 2 ] && grep -q "no_such_shard" "$D/e" && [ ! -e "$D/m4" ] && ok "merge of a missing folder refused" || { bad "merge missing folder"; cat "$D/e"; }

# --- folder dataset ---------------------------------------------------------------------------
mkdir -p "$D/folder"
cp "$D/ds/img/a.png" "$D/ds/img/c.png" "$D/folder/"
printf 'a\tcircle\n# comment\nc\tstripes\n' >"$D/folder/captions.txt"
"$T" bench --dataset "$D/folder" --methods ddim --schedules uniform,calibrated --steps 4 --out "$D/fo" 2>"$D/e" \
    && [ "$(($(wc -l <"$D/fo/results.csv") - 1))" = 4 ] && ok "folder dataset (uniform + calibrated)" || { bad "folder dataset"; cat "$D/e"; }
grep -q ",calibrated,4," "$D/fo/results.csv" && ls "$D"/fo/calibration/*.json >/dev/null 2>&1 && ok "calibrated schedule in the grid" || bad "calibrated schedule"

# --- PIE-Bench mapping: edited with masked metrics ----------------------------------------------
cat >"$D/ds/pie.json" <<'J'
{"000000000001": {"image_path": "img/a.png", "original_prompt": "a [circle]",
  "editing_prompt": "a [stripes]", "editing_instruction": "", "editing_type_id": "1",
  "blended_word": "", "mask": [100, 20, 200, 40]},
 "000000000002": {"image_path": "img/c.png", "original_prompt": "stripes",
  "editing_prompt": "checker", "editing_type_id": 2, "mask": [0, 10]}}
J
"$T" bench --dataset "$D/ds/pie.json" --methods ddim --schedules uniform,trdi --steps 5 --out "$D/pie" 2>"$D/e" \
    && ok "pie run" || { bad "pie run"; cat "$D/e"; }
python3 - "$D/pie" <<'PY' && ok "pie masked metrics" || bad "pie masked metrics"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/results.csv")))
assert len(rows) == 4
for r in rows:
    for k in ("psnr_unedited", "psnr_edited", "ssim_torchmetrics_unedited", "mse_edited"):
        assert r[k] != "", (k, r)
PY

# --- errors name the entry (exit 2, nothing run) -------------------------------------------------
err() { # name, expected exit, pattern, args...
    local name="$1" code="$2" pat="$3"; shift 3
    "$T" bench --methods ddim --schedules uniform --steps 3 --out "$D/err_$name" "$@" >/dev/null 2>"$D/e"
    local rc=$?
    if [ $rc -eq "$code" ] && grep -q -- "$pat" "$D/e" && [ ! -e "$D/err_$name/results.csv" ]; then ok "$name"; else bad "$name (rc $rc): $(cat "$D/e")"; fi
}
printf '[{"image": "img/a.png", "caption": "x"},' >"$D/ds/bad1.json"
err "malformed JSON" 2 "bad1.json: not valid JSON" --dataset "$D/ds/bad1.json"
printf '[{"image": "img/a.png", "caption": "x"}, {"image": "img/b.png"}]' >"$D/ds/bad2.json"
err "missing caption" 2 "entry 1 (image 'img/b.png'): \"caption\"" --dataset "$D/ds/bad2.json"
printf '[{"image": "img/a.png", "caption": ""}, {"image": "img/nope.png", "caption": ""}]' >"$D/ds/bad3.json"
err "missing image" 2 "entry 1 (id 'nope'): image '.*img/nope.png' not found" --dataset "$D/ds/bad3.json"
printf '[{"image": "img/a.png", "caption": ""}, {"image": "img/a.png", "caption": ""}]' >"$D/ds/bad4.json"
err "duplicate ids" 2 "same id 'a'" --dataset "$D/ds/bad4.json"
printf '{"k1": {"image_path": "img/a.png", "original_prompt": "", "editing_prompt": "", "mask": [0, 5000]}}' >"$D/ds/bad5.json"
err "mask of the wrong size" 2 "entry 'k1': the RLE mask covers 5000 pixels but the image .* is 32x32" --dataset "$D/ds/bad5.json"
printf '{"k1": {"image_path": "img/a.png", "original_prompt": "", "editing_prompt": "", "mask": [0, 5, 7]}}' >"$D/ds/bad6.json"
err "odd RLE" 2 "entry 'k1': \"mask\" has 3 values" --dataset "$D/ds/bad6.json"
printf 'a\tcircle\n' >"$D/ds/img/captions.txt"
err "folder image without caption" 2 "image 'b.png' has no caption" --dataset "$D/ds/img"
printf 'not a png' >"$D/ds/img/x.png"
printf '[{"image": "img/x.png", "caption": ""}]' >"$D/ds/bad7.json"
err "corrupt image" 2 "entry 0 (id 'x')" --dataset "$D/ds/bad7.json"
err "unknown method" 2 "unknown method 'nope'" --dataset "$D/ds/manifest.json" --methods nope
err "bad shard" 2 "--shard must be I/N" --dataset "$D/ds/manifest.json" --shard 3/2
err "missing LPIPS weights" 2 "--lpips-weights: .*nope.safetensors" --dataset "$D/ds/manifest.json" --lpips-weights "$D/nope.safetensors"
err "method flag without its method" 2 "not in --methods" --dataset "$D/ds/manifest.json" --gnri-iters 3
exit $fail
