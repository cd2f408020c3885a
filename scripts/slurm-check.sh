#!/usr/bin/env bash
# Proves sharded runs on a real Slurm: starts a single-node cluster on loopback (Debian's
# slurm-wlm and munge, installed when missing; no cgroups), then runs the SAP experiment's tiny
# profile three ways, each ending with a predictions.csv compared byte for byte with a
# single-process run:
#   1. chain:   prepare -> array 0-2 -> merge, chained with sbatch dependencies;
#   2. subset:  --array=0,2, a merge that must fail naming shard 1, then --array=1 alone, merge;
#   3. scancel: task 1 cancelled mid-run (scancel), resubmitted alone, merge.
# Runs on a developer's machine too (as root, or with slurm already running and SLURM_CONF
# set, pass SLURM_CHECK_EXTERNAL=1). Usage: scripts/slurm-check.sh [WORK_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=experiments/sap-multimodal.toml
PROFILE=tiny
N=3
WORK="${1:-$(mktemp -d /tmp/tomofuse-slurm.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
T0=$(date +%s)
say() { printf '== [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { echo "SLURM CHECK FAILED: $*" >&2; exit 1; }

# The binary under test: the one the README's commands build (target/debug).
BIN="${TOMOFUSE_BIN:-}"
if [[ -z "$BIN" ]]; then
    say "building tomofuse"
    cargo build -q -p tomofuse-cli
    BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/tomofuse"
fi
[[ -x "$BIN" ]] || fail "no tomofuse binary at $BIN"

# ---------------------------------------------------------------------------------------------
# A single-node Slurm on loopback.
# ---------------------------------------------------------------------------------------------
SL="$WORK/slurm"
started=()
cleanup() {
    if [[ -z "${SLURM_CHECK_EXTERNAL:-}" ]]; then
        scancel --user="$(id -un)" >/dev/null 2>&1 || true
        for p in "${started[@]}"; do kill "$p" >/dev/null 2>&1 || true; done
    fi
}
trap cleanup EXIT

if [[ -z "${SLURM_CHECK_EXTERNAL:-}" ]]; then
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        [[ $(id -u) -eq 0 ]] || fail "slurm-wlm and munge are not installed and this is not root"
        say "installing slurm-wlm and munge (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
    fi
    [[ $(id -u) -eq 0 ]] || fail "starting slurmctld/slurmd needs root (or set SLURM_CHECK_EXTERNAL=1 with a running cluster)"
    if ! pgrep -x munged >/dev/null; then
        [[ -s /etc/munge/munge.key ]] || mungekey -c -k /etc/munge/munge.key >/dev/null 2>&1 ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
        mkdir -p /run/munge && chown munge:munge /run/munge
        runuser -u munge -- /usr/sbin/munged
        say "munged started"
    fi
    mkdir -p "$SL/state" "$SL/spool"
    NODE="$(hostname -s)"
    CPUS="$(nproc)"
    MEM_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
    cat >"$SL/slurm.conf" <<EOF
ClusterName=tomofuse-check
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$SL/slurmctld.log
SlurmdLogFile=$SL/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=check Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$SL/slurm.conf"
    slurmctld -i && started+=("$(cat "$SL/slurmctld.pid" 2>/dev/null || true)")
    sleep 1
    slurmd && started+=("$(cat "$SL/slurmd.pid" 2>/dev/null || true)")
    for _ in $(seq 60); do
        sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break
        sleep 0.5
    done
    sinfo -h -o '%t' | grep -qE '^(idle|mix|alloc)' || { cat "$SL"/*.log >&2; fail "the Slurm node did not come up"; }
    say "slurm up: node $NODE, $CPUS CPUs ($(sinfo --version))"
fi

# ---------------------------------------------------------------------------------------------
# Scenarios.
# ---------------------------------------------------------------------------------------------
LOGS="$WORK/logs"
# A rerun in the same folder (CI's target/ is kept between runs on one clone) must start from
# empty run directories: finished shards from a previous run are resumed, not run, and a
# mid-run cancel would have nothing to catch.
rm -rf "$LOGS" "$WORK/single" "$WORK/chain" "$WORK/subset" "$WORK/scancel"
mkdir -p "$LOGS"
# Every job runs the same binary from the workspace root with the same thread count as the
# single-process reference, so results can be compared byte for byte.
export RAYON_NUM_THREADS=1
JOB=(--chdir="$ROOT" --export=ALL --cpus-per-task=1 --mem=3G --output="$LOGS/%x-%j.out")

say "reference: one process, no scheduler"
"$BIN" run "$CONFIG" --profile "$PROFILE" --out "$WORK/single" >"$LOGS/single.out" 2>&1 ||
    { tail -30 "$LOGS/single.out" >&2; fail "single-process run"; }
REF="$WORK/single/predictions.csv"
[[ -s "$REF" ]] || fail "no $REF"

same() { # $1 run dir, $2 scenario
    if cmp -s "$REF" "$1/predictions.csv"; then
        say "$2: predictions.csv byte-identical to the single-process run ($(wc -l <"$REF") lines, sha256 $(sha256sum "$REF" | cut -c1-16))"
    else
        diff <(head -5 "$REF") <(head -5 "$1/predictions.csv") >&2 || true
        fail "$2: predictions.csv differs from the single-process run"
    fi
}
prepare() { # $1 run dir: the documented prepare step as a job, waited for
    sbatch --wait --parsable -J prep "${JOB[@]}" \
        --wrap "$BIN run $CONFIG --profile $PROFILE --out $1 --until models --shards $N" >/dev/null ||
        fail "prepare job for $1"
}
array() { # $1 run dir, $2 --array spec, rest: more sbatch options
    local d="$1" a="$2"
    shift 2
    sbatch --parsable -J shards --array="$a" "${JOB[@]}" --output="$LOGS/%x-%A_%a.out" "$@" \
        --wrap "$BIN run $CONFIG --profile $PROFILE --out $d"
}

say "1. chain: prepare -> array 0-$((N - 1)) -> merge, with sbatch dependencies"
D1="$WORK/chain"
prep=$(sbatch --parsable -J prep "${JOB[@]}" \
    --wrap "$BIN run $CONFIG --profile $PROFILE --out $D1 --until models --shards $N")
arr=$(array "$D1" "0-$((N - 1))" --dependency="afterok:$prep")
sbatch --wait --parsable -J merge "${JOB[@]}" --dependency="afterany:$arr" \
    --wrap "$BIN merge $D1" >/dev/null || { tail -20 "$LOGS"/merge-*.out >&2; fail "chain: merge job"; }
same "$D1" "1. chain"

say "2. subset: --array=0,2, merge (must name shard 1), --array=1 alone, merge"
D2="$WORK/subset"
prepare "$D2"
arr=$(array "$D2" "0,2" --wait) || fail "subset: array 0,2"
if sbatch --wait -J merge-early2 "${JOB[@]}" --wrap "$BIN merge $D2" >/dev/null; then
    fail "subset: the merge with shard 1 missing succeeded"
fi
out=$(cat "$LOGS"/merge-early2-*.out)
grep -q "shard 1/$N has not finished" <<<"$out" || { echo "$out" >&2; fail "subset: merge did not name shard 1"; }
say "2. the early merge refused, naming: $(grep -m1 -o "shard 1/$N has not finished[^;]*" <<<"$out")"
array "$D2" 1 --wait >/dev/null || fail "subset: array 1"
sbatch --wait --parsable -J merge "${JOB[@]}" --wrap "$BIN merge $D2" >/dev/null || fail "subset: merge"
same "$D2" "2. subset"

say "3. scancel: task 1 cancelled mid-run, resubmitted alone"
D3="$WORK/scancel"
prepare "$D3"
arr=$(array "$D3" "0-$((N - 1))")
# Cancel task 1 once it has stored its first case result (cases are in cohort order, which
# is predictions.csv's row order; shard 1 takes rows 1, 1+N, ...) and before it finishes.
first=$(awk -F, -v n="$N" 'NR > 1 && (NR - 2) % n == 1 { print $1; exit }' "$REF")
cancelled=""
# Poll while the array job is still queued or running (on a busy node task 1 may wait for
# the other tasks' CPUs first; a pending array shows as one `JOB_[...]` record, so the job is
# asked for, not the task), with a 30-minute cap; only an array that ended with task 1 uncaught
# is a failure.
for _ in $(seq 36000); do
    if [[ -f "$D3/cases/predict/$first.json" && ! -f "$D3/shards/shard-001-of-00$N.json" ]]; then
        scancel "${arr}_1"
        cancelled=yes
        break
    fi
    [[ -n "$(squeue -h -j "$arr" 2>/dev/null)" ]] || break
    sleep 0.05
done
[[ -n "$cancelled" ]] || fail "scancel: task 1 could not be caught mid-run (it finished, or was not running after 30 min)"
sbatch --wait -J wait "${JOB[@]}" --dependency="afterany:$arr" --wrap true >/dev/null
[[ ! -f "$D3/shards/shard-001-of-00$N.json" ]] ||
    fail "scancel: task 1 finished before the cancel took effect (rerun the script)"
say "3. task ${arr}_1 cancelled mid-run ($(find "$D3/cases" -name '*.json' | wc -l) case results on disk)"
if sbatch --wait -J merge-early3 "${JOB[@]}" --wrap "$BIN merge $D3" >/dev/null; then
    fail "scancel: the merge with a cancelled shard succeeded"
fi
array "$D3" 1 --wait >/dev/null || fail "scancel: resubmitted task 1"
sbatch --wait -J merge "${JOB[@]}" --wrap "$BIN merge $D3" >/dev/null || fail "scancel: merge"
same "$D3" "3. scancel"

say "all Slurm scenarios passed in $(($(date +%s) - T0)) s (work dir $WORK)"
