#!/usr/bin/env bash
# End-to-end test of profiles/slurm on a throw-away single-node SLURM cluster on localhost.
#
#   bash tests/cluster/run_slurm_test.sh        (as root; see tests/cluster/README.md)
#
# 1. installs Debian's SLURM + munge if missing, and snakemake-executor-plugin-slurm into the
#    active Python environment if missing;
# 2. writes a slurm.conf into a temporary folder and starts munged, slurmctld and slurmd in
#    the foreground (background jobs of this script), waits for the node to be idle;
# 3. runs the workflow locally (profiles/default) in one copy of the project and through
#    profiles/slurm in a second copy, compares every results/**/*.parquet (table equality);
# 4. submits a job that fails on purpose and checks Snakemake reports it and exits non-zero
#    within a time limit;
# 5. stops every daemon it started, by PID, on exit;
# 6. only with SCALE_STUDIES=N: runs N synthetic studies through SLURM and locally and compares the tables
#    as in 3; edits one study in both, checks that the SLURM rebuild submits exactly the jobs a dry run
#    plans (one shard and what depends on it) and reuses the cache, and compares again (wall times, sbatch counts).
# Exits 0 only if every check passed.
#
# Environment (all optional):
#   PYTHON                 interpreter of the project's environment (default: python3 on PATH)
#   LOCAL_TIMEOUT          seconds for the local run           (default 900)
#   CLUSTER_TIMEOUT        seconds for the SLURM run           (default 1200)
#   FAIL_TIMEOUT           seconds for the failing-job run     (default 240)
#   SCALE_STUDIES          if set, also run step 6 on this many synthetic studies
#   SCALE_TIMEOUT          seconds for each Snakemake run of step 6 (default 3600)
#   SLURM_TEST_PARTITION   partition name of the test cluster  (default livertrials)
#   SLURM_TEST_PORTS       slurmctld,slurmd ports              (default 16817,16818)
#   KEEP_WORK=1            keep the temporary folder (always kept when a check failed)
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
LOCAL_TIMEOUT="${LOCAL_TIMEOUT:-900}"
CLUSTER_TIMEOUT="${CLUSTER_TIMEOUT:-1200}"
FAIL_TIMEOUT="${FAIL_TIMEOUT:-240}"
SCALE_TIMEOUT="${SCALE_TIMEOUT:-3600}"
PARTITION="${SLURM_TEST_PARTITION:-livertrials}"
IFS=, read -r CTLD_PORT SLURMD_PORT <<<"${SLURM_TEST_PORTS:-16817,16818}"
PLUGIN_REQ='snakemake-executor-plugin-slurm>=2.8,<3'

log() { printf '[cluster-test %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

PASSED=0
FAILED=0
RESULTS=()
check() { # check NAME STATUS(0=pass) DETAIL
    if [[ "$2" == 0 ]]; then
        PASSED=$((PASSED + 1)); RESULTS+=("PASS  $1: $3")
    else
        FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $1: $3")
    fi
    log "${RESULTS[-1]}"
}

# ---------------------------------------------------------------- cleanup, by PID
WORK=""
LINKED_CONF=""
DAEMON_PIDS=()   # in start order; stopped in reverse order
DAEMON_NAMES=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if ((${#DAEMON_PIDS[@]})); then
        # Cancel what is left in this private cluster first, so that no slurmstepd outlives it.
        if [[ -n "${SLURM_CONF:-}" ]] && scontrol ping >/dev/null 2>&1; then
            local left
            left="$(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null)"
            if [[ -n "$left" ]]; then
                log "cancelling leftover jobs: $(echo $left)"
                scancel $left 2>/dev/null
                for _ in $(seq 1 20); do
                    [[ -z "$(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ]] && break
                    sleep 0.5
                done
            fi
        fi
        local i pid
        for ((i = ${#DAEMON_PIDS[@]} - 1; i >= 0; i--)); do
            pid="${DAEMON_PIDS[$i]}"
            kill -0 "$pid" 2>/dev/null || continue
            log "stopping ${DAEMON_NAMES[$i]} (pid $pid)"
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then
                log "${DAEMON_NAMES[$i]} ignored SIGTERM, killing pid $pid"
                kill -KILL "$pid" 2>/dev/null
            fi
            wait "$pid" 2>/dev/null
        done
    fi
    if [[ -n "$LINKED_CONF" && "$(readlink "$LINKED_CONF" 2>/dev/null)" == "${SLURM_CONF:-}" ]]; then
        rm -f "$LINKED_CONF"
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "$rc" == 0 && "${KEEP_WORK:-0}" != 1 ]]; then
            rm -rf "$WORK"
        else
            log "work folder kept: $WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_daemon() { # start_daemon NAME LOGFILE CMD... ; runs CMD in the foreground of a background job
    local name="$1" logfile="$2"
    shift 2
    "$@" >"$logfile" 2>&1 &
    DAEMON_PIDS+=("$!")
    DAEMON_NAMES+=("$name")
    log "started $name (pid $!): $*"
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD... ; polls CMD every 0.5 s
    local limit="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
    log "$what"
}

# ---------------------------------------------------------------- prerequisites
T_SETUP=$(now)
[[ "$(id -u)" == 0 ]] || die "run as root: slurmd and munged are started by this script"
command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH; set PYTHON to the project's interpreter"
"$PYTHON" -c 'import snakemake, livertrials, pyarrow' 2>/dev/null \
    || die "$PYTHON lacks snakemake/livertrials/pyarrow: activate the project's environment (pip install -e .)"

if ! command -v sinfo >/dev/null || ! command -v slurmctld >/dev/null \
    || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    log "installing Debian's SLURM and munge"
    t=$(now)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    hash -r
    log "apt-get took $(elapsed "$t" "$(now)") s"
fi
for tool in sinfo squeue scontrol scancel sbatch slurmctld slurmd munged munge unmunge setpriv timeout; do
    command -v "$tool" >/dev/null || die "$tool not found after installation"
done

plugin_ok() {
    "$PYTHON" - <<'EOF'
from importlib.metadata import version, PackageNotFoundError
try:
    major, minor = (int(x) for x in version("snakemake-executor-plugin-slurm").split(".")[:2])
except (PackageNotFoundError, ValueError):
    raise SystemExit(1)
raise SystemExit(0 if (major, minor) >= (2, 8) else 1)
EOF
}
if ! plugin_ok; then
    log "pip-installing $PLUGIN_REQ into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    t=$(now)
    "$PYTHON" -m pip install -q "$PLUGIN_REQ"
    log "pip took $(elapsed "$t" "$(now)") s"
    plugin_ok || die "snakemake-executor-plugin-slurm still missing"
fi

WORK="$(mktemp -d /tmp/livertrials-slurm.XXXXXX)"
chmod 755 "$WORK"
log "work folder: $WORK"
log "versions: $("$PYTHON" -m snakemake --version | tail -1) (snakemake)," \
    "$("$PYTHON" -c 'from importlib.metadata import version as v; print(v("snakemake-executor-plugin-slurm"))') (slurm plugin)," \
    "$(slurmctld -V)"

# ---------------------------------------------------------------- munge
munge_works() { { munge -n </dev/null | unmunge; } >/dev/null 2>&1; }
if munge_works; then
    log "munged already running; using it"
else
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    start_daemon munged "$WORK/munged.out" \
        setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
    wait_for 20 "munged answers" munge_works || die "munged did not come up: $(cat "$WORK/munged.out")"
fi

# ---------------------------------------------------------------- slurm.conf + daemons
S="$WORK/slurm"
mkdir -p "$S/state/ctld" "$S/state/d" "$S/log" "$S/run"
# Node line from what slurmd detects; RealMemory at most 80% of MemTotal.
NODE_HW="$(slurmd -C | head -1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')"
DETECTED_MB="$(slurmd -C | head -1 | tr ' ' '\n' | sed -n 's/^RealMemory=//p')"
MEMTOTAL_MB=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024))
REAL_MB=$((MEMTOTAL_MB * 8 / 10))
((DETECTED_MB > 0 && DETECTED_MB < REAL_MB)) && REAL_MB=$DETECTED_MB
export SLURM_CONF="$S/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# Single-node test cluster written by tests/cluster/run_slurm_test.sh
ClusterName=livertrialstest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
ReturnToService=2
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=$S/state/ctld
SlurmdSpoolDir=$S/state/d
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost ${NODE_HW}RealMemory=$REAL_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
log "slurm.conf: $SLURM_CONF (node: ${NODE_HW}RealMemory=$REAL_MB)"
# SLURM_CONF is enough for this script and for sbatch/squeue, but the plugin's job step
# (snakemake-executor-plugin-slurm-jobstep) drops every SLURM_* variable except the job's
# identity before its nested `srun`, which then finds no configuration. So the file is also
# linked at the compiled-in default path, unless a real configuration is there already.
ETC_CONF=/etc/slurm/slurm.conf
if [[ -e "$ETC_CONF" || -L "$ETC_CONF" ]]; then
    if [[ -L "$ETC_CONF" && "$(readlink "$ETC_CONF")" == /tmp/livertrials-slurm.*/slurm/slurm.conf ]]; then
        rm -f "$ETC_CONF"   # left by an earlier run that was killed
    else
        die "$ETC_CONF exists: this machine has a SLURM configuration of its own; run the test on a machine without one"
    fi
fi
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" "$ETC_CONF"
LINKED_CONF="$ETC_CONF"

start_daemon slurmctld "$S/log/slurmctld.out" slurmctld -D -i -f "$SLURM_CONF"
wait_for 30 "slurmctld answers" scontrol ping \
    || die "slurmctld did not come up: $(tail -20 "$S/log/slurmctld.log" "$S/log/slurmctld.out" 2>&1)"
start_daemon slurmd "$S/log/slurmd.out" slurmd -D -N localhost -f "$SLURM_CONF"
node_idle() { [[ "$(sinfo -h -n localhost -o %t)" == idle ]]; }
wait_for 60 "node localhost is idle" node_idle \
    || die "node not idle: $(sinfo -N -l; scontrol show node localhost | grep -i reason; tail -20 "$S/log/slurmd.log" 2>&1)"
T_READY=$(now)
log "SLURM ready after $(elapsed "$T_SETUP" "$T_READY") s (install + start)"

# ---------------------------------------------------------------- two copies of the project
copy_project() { # like `git ls-files`: the sources, not results or caches
    mkdir -p "$1"
    tar -C "$REPO" -cf - \
        --exclude=./.git --exclude=./results --exclude=./.snakemake --exclude=./.venv \
        --exclude=./.pytest_cache --exclude=./.hypothesis --exclude=./benchmarks/out \
        --exclude='__pycache__' --exclude='*.egg-info' . | tar -C "$1" -xf -
}
copy_project "$WORK/local"
copy_project "$WORK/cluster"

# The profile as Snakemake will read it in the cluster copy (YTE-rendered).
PROFILE_JSON="$(cd "$WORK/cluster" && LIVERTRIALS_SLURM_PARTITION="$PARTITION" "$PYTHON" - <<'EOF'
import json, yte
with open("profiles/slurm/config.yaml") as f:
    print(json.dumps(yte.process_yaml(f, require_use_yte=True)))
EOF
)"
log "profiles/slurm rendered: $PROFILE_JSON"
"$PYTHON" - "$PROFILE_JSON" "$PARTITION" <<'EOF' && rc=0 || rc=$?
import json, sys
p = json.loads(sys.argv[1])
ok = p.get("slurm-status-command") == "squeue" and p.get("default-resources", {}).get("slurm_partition") == sys.argv[2]
sys.exit(0 if ok else 1)
EOF
check "profile" "$rc" "without accounting the profile picks slurm-status-command=squeue; slurm_partition from LIVERTRIALS_SLURM_PARTITION=$PARTITION"

# ---------------------------------------------------------------- (a) local run
log "local run (profiles/default) in $WORK/local"
t=$(now)
(cd "$WORK/local" && timeout -k 10 "$LOCAL_TIMEOUT" "$PYTHON" -m snakemake) >"$WORK/local.log" 2>&1 && rc=0 || rc=$?
T_LOCAL="$(elapsed "$t" "$(now)")"
check "local run" "$rc" "exit $rc in $T_LOCAL s (timeout $LOCAL_TIMEOUT s)"
((rc == 0)) || tail -30 "$WORK/local.log"

# ---------------------------------------------------------------- (b) cluster run
log "SLURM run (profiles/slurm) in $WORK/cluster"
t=$(now)
(cd "$WORK/cluster" && LIVERTRIALS_SLURM_PARTITION="$PARTITION" \
    timeout -k 10 "$CLUSTER_TIMEOUT" "$PYTHON" -m snakemake --workflow-profile profiles/slurm) \
    >"$WORK/cluster.log" 2>&1 && rc=0 || rc=$?
T_CLUSTER="$(elapsed "$t" "$(now)")"
check "SLURM run" "$rc" "exit $rc in $T_CLUSTER s (timeout $CLUSTER_TIMEOUT s)"
((rc == 0)) || tail -40 "$WORK/cluster.log"

SUBMITTED="$(grep -c 'has been submitted with SLURM jobid' "$WORK/cluster.log" || true)"
RUN_ID="$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$WORK/cluster.log" | head -1)"
SQUEUE_ROWS="$(squeue -h -t all -n "${RUN_ID:-none}" -o '%i %P %T' 2>/dev/null || true)"
SQUEUE_JOBS="$(grep -c . <<<"$SQUEUE_ROWS" || true)"
SQUEUE_OK="$(awk -v p="$PARTITION" '$2 == p && $3 == "COMPLETED"' <<<"$SQUEUE_ROWS" | grep -c . || true)"
log "cluster jobs: $SUBMITTED sbatch submissions in the Snakemake log; squeue -n $RUN_ID lists $SQUEUE_JOBS, $SQUEUE_OK COMPLETED in partition $PARTITION"
rc=1
((SUBMITTED > 0 && SUBMITTED == SQUEUE_JOBS && SQUEUE_JOBS == SQUEUE_OK)) && rc=0
check "SLURM jobs" "$rc" "$SUBMITTED submitted, $SQUEUE_OK completed in partition $PARTITION"

# ---------------------------------------------------------------- (c) same Parquet tables
same_tables() { # same_tables LOCAL SLURM ; every results/**/*.parquet of two project folders, as equal tables
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys
from pathlib import Path
import pyarrow.parquet as pq

a, b = (Path(p) for p in sys.argv[1:3])


def parquet_files(root):
    """Relative path -> file. The change-report history keeps each run's pooled table under a
    folder named by that run's time stamp; two runs necessarily differ there, so the stamp is
    replaced by RUN<n>, the run's place in time order (a folder built twice has two), and the
    tables themselves are still compared."""
    runs = root / "results" / "provenance" / "history" / "runs"
    order = {p.name: n for n, p in enumerate(sorted(runs.iterdir()) if runs.is_dir() else [], 1)}
    files = {}
    for path in (root / "results").rglob("*.parquet"):
        parts = list(path.relative_to(root).parts)
        if parts[:4] == ["results", "provenance", "history", "runs"] and len(parts) > 5:
            parts[4] = f"RUN{order[parts[4]]}"
        files[Path(*parts)] = path
    return files


files_a, files_b = parquet_files(a), parquet_files(b)
found_a, found_b = sorted(files_a), sorted(files_b)
problems = []
if not found_a:
    problems.append("the local run wrote no Parquet file")
if found_a != found_b:
    problems.append(f"different files: only local {sorted(set(found_a) - set(found_b))}, "
                    f"only SLURM {sorted(set(found_b) - set(found_a))}")
for rel in sorted(set(found_a) & set(found_b)):
    ta, tb = pq.read_table(files_a[rel]), pq.read_table(files_b[rel])
    if not ta.equals(tb):
        problems.append(f"{rel}: tables differ (schema {ta.schema == tb.schema}, rows {ta.num_rows}/{tb.num_rows})")
for p in problems:
    print("  ", p)
print(f"  compared {len(set(found_a) & set(found_b))} Parquet files")
sys.exit(1 if problems else 0)
EOF
}
same_tables "$WORK/local" "$WORK/cluster" && rc=0 || rc=$?
check "same results" "$rc" "every results/**/*.parquet of the SLURM run equals the local one (pyarrow Table.equals)"

# ---------------------------------------------------------------- (d) a failing job is reported
mkdir -p "$WORK/fail"
cp "$HERE/failing.smk" "$WORK/fail/Snakefile"
log "failing job through SLURM (limit $FAIL_TIMEOUT s)"
t=$(now)
(cd "$WORK/fail" && LIVERTRIALS_SLURM_PARTITION="$PARTITION" \
    timeout -k 10 "$FAIL_TIMEOUT" "$PYTHON" -m snakemake --workflow-profile "$WORK/cluster/profiles/slurm") \
    >"$WORK/fail.log" 2>&1 && rc=0 || rc=$?
T_FAIL="$(elapsed "$t" "$(now)")"
FAIL_ID="$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$WORK/fail.log" | head -1)"
FAIL_STATE="$(squeue -h -t all -n "${FAIL_ID:-none}" -o %T 2>/dev/null | sort -u | tr '\n' ' ')"
if ((rc == 124 || rc == 137)); then
    detail="HUNG: killed by timeout after $T_FAIL s"
    rc=1
elif ((rc == 0)); then
    detail="Snakemake exited 0 although the job failed"
    rc=1
elif ! grep -q 'Error in rule fail_on_purpose' "$WORK/fail.log"; then
    detail="exit $rc after $T_FAIL s but no 'Error in rule fail_on_purpose' in the log"
    rc=1
else
    detail="reported failed, exit $rc after $T_FAIL s; SLURM state: ${FAIL_STATE:-?}"
    rc=0
fi
check "failing job" "$rc" "$detail"
((rc == 0)) || tail -30 "$WORK/fail.log"

# ---------------------------------------------------------------- (e) optional: a large synthetic corpus
# SCALE_STUDIES=N: N synthetic studies (benchmarks/generate_corpus.py) in two data-only folders, run with -d from
# the cluster copy through profiles/slurm and from the local copy on 2 cores; the results must be equal as in (c).
# Then one printed number of one study changes in both (benchmarks/run_benchmark.py edit_one_study): the SLURM
# rebuild must submit exactly the cluster jobs a dry run plans (the edited study's shard, no other shard, and what
# depends on it), reuse the per-study cache entries its cluster jobs wrote, and again equal the local rebuild.
# Wall times and sbatch counts are reported. Not run in CI.
T_SCALE=""
if [[ -n "${SCALE_STUDIES:-}" ]]; then
    SCALE="$WORK/scale-$SCALE_STUDIES"              # run through SLURM
    SCALE_LOCAL="$WORK/scale-$SCALE_STUDIES-local"  # run locally
    mkdir -p "$SCALE/config" "$SCALE/resources/comparators"
    cp "$WORK/cluster/config/config.yaml" "$SCALE/config/"
    cp -r "$WORK/cluster/resources/registry" "$SCALE/resources/"
    "$PYTHON" "$WORK/cluster/benchmarks/generate_corpus.py" "$SCALE/resources/studies" --studies "$SCALE_STUDIES" >/dev/null
    cp -a "$SCALE" "$SCALE_LOCAL"

    slurm_scale() { # slurm_scale LOG [OPTION...] ; the cluster copy's workflow on $SCALE through profiles/slurm
        local out="$1"
        shift
        (cd "$WORK/cluster" && LIVERTRIALS_SLURM_PARTITION="$PARTITION" \
            timeout -k 10 "$SCALE_TIMEOUT" "$PYTHON" -m snakemake --workflow-profile profiles/slurm -d "$SCALE" "$@") \
            >"$out" 2>&1
    }
    local_scale() { # local_scale LOG ; the local copy's workflow on $SCALE_LOCAL (profiles/default, 2 cores)
        (cd "$WORK/local" && timeout -k 10 "$SCALE_TIMEOUT" "$PYTHON" -m snakemake -c 2 -d "$SCALE_LOCAL") >"$1" 2>&1
    }
    local_and_compare() { # local_and_compare WHAT LOG TIMEVAR ; build $SCALE_LOCAL, check it, compare it with $SCALE
        local t rc
        log "local $1 in $SCALE_LOCAL (limit $SCALE_TIMEOUT s)"
        t=$(now)
        local_scale "$2" && rc=0 || rc=$?
        printf -v "$3" '%s' "$(elapsed "$t" "$(now)")"
        check "scale $1" "$rc" "exit $rc in ${!3} s"
        ((rc == 0)) || tail -30 "$2"
        same_tables "$SCALE_LOCAL" "$SCALE" && rc=0 || rc=$?
        check "scale $1 same results" "$rc" "every results/**/*.parquet of the SLURM build equals the local one"
    }
    studies_in() { # studies_in FOLDER ; how many studies its results/harmonized/outcomes.parquet holds
        "$PYTHON" -c 'import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1], columns=["study_id"]); print(len(set(t.column(0).to_pylist())))' \
            "$1/results/harmonized/outcomes.parquet" 2>/dev/null || echo 0
    }
    submissions() { grep -c 'has been submitted with SLURM jobid' "$1" || true; }
    job_blocks() { # job_blocks LOG ; "rule wildcards" of every job block in a Snakemake log, sorted; "(local)" marks a localrule
        "$PYTHON" - "$1" <<'EOF'
import re
import sys

jobs = []  # [rule, wildcards, mark]
for line in open(sys.argv[1], errors="replace"):
    if m := re.fullmatch(r"\s*(local)?rule (\w+):\s*", line):
        jobs.append([m[2], "", "(local)" if m[1] else ""])
    elif (m := re.fullmatch(r"\s*wildcards: (.*?)\s*", line)) and jobs:
        jobs[-1][1] = m[1]
print("\n".join(sorted(" ".join(filter(None, job)) for job in jobs)))
EOF
    }

    # cold: SLURM, then local, same tables
    log "SLURM run of $SCALE_STUDIES synthetic studies in $SCALE (limit $SCALE_TIMEOUT s)"
    t=$(now)
    slurm_scale "$WORK/scale.log" && rc=0 || rc=$?
    T_SCALE="$(elapsed "$t" "$(now)")"
    SCALE_SUBMITTED="$(submissions "$WORK/scale.log")"
    SCALE_FOUND="$(studies_in "$SCALE")"
    ((rc == 0 && SCALE_FOUND == SCALE_STUDIES)) || rc=1
    check "scale run" "$rc" "$SCALE_STUDIES synthetic studies: exit $rc in $T_SCALE s, $SCALE_SUBMITTED sbatch submissions, $SCALE_FOUND studies harmonized"
    ((rc == 0)) || tail -30 "$WORK/scale.log"
    grep -o "rule [a-z_]*\|localrule [a-z_]*\|group job [a-z_]*" "$WORK/scale.log" | sort | uniq -c | sed 's/^/    /'
    SCALE_CACHED="$(find "$SCALE/results/cache/studies" -type f 2>/dev/null | grep -c . || true)"
    rc=1
    ((SCALE_CACHED == SCALE_STUDIES)) && rc=0
    check "scale cache" "$rc" "the cluster jobs wrote $SCALE_CACHED per-study entries under the data folder's results/cache/studies/ (expected $SCALE_STUDIES)"

    local_and_compare "run" "$WORK/scale-local.log" T_SCALE_LOCAL

    # edit one study in both folders
    EDIT_PY='import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); from run_benchmark import edit_one_study; print(edit_one_study(Path(sys.argv[2])))'
    EDITED="$("$PYTHON" -c "$EDIT_PY" "$WORK/cluster/benchmarks" "$SCALE")" || EDITED="(edit failed)"
    EDITED_LOCAL="$("$PYTHON" -c "$EDIT_PY" "$WORK/local/benchmarks" "$SCALE_LOCAL")" || EDITED_LOCAL="(edit failed)"
    EDIT_STUDY="${EDITED%%:*}"
    EDIT_SHARD="$("$PYTHON" - "$SCALE/config/config.yaml" "$SCALE_STUDIES" "$EDIT_STUDY" <<'EOF'
import sys

import yaml

from livertrials.harmonize.shards import shard_count, shard_of

with open(sys.argv[1]) as f:
    setting = yaml.safe_load(f)["shards"]
print(shard_of(sys.argv[3], shard_count(setting, int(sys.argv[2]))))
EOF
)" || EDIT_SHARD="?"
    rc=1
    [[ "$EDITED" == "$EDITED_LOCAL" && "$EDITED" != "(edit failed)" ]] && rc=0
    check "scale edit" "$rc" "measurements.csv of $EDITED (shard $EDIT_SHARD) in both folders; local: $EDITED_LOCAL"

    # the jobs the rebuild must run, from a dry run with the same profile
    slurm_scale "$WORK/scale-dryrun.log" --dry-run && rc=0 || rc=$?
    job_blocks "$WORK/scale-dryrun.log" >"$WORK/scale-edit.planned"
    log "dry run (exit $rc) plans $(grep -c . "$WORK/scale-edit.planned" || true) jobs: $(paste -sd, "$WORK/scale-edit.planned")"

    log "SLURM rebuild after the edit in $SCALE (limit $SCALE_TIMEOUT s)"
    t=$(now)
    slurm_scale "$WORK/scale-edit.log" && rc=0 || rc=$?
    T_SCALE_EDIT="$(elapsed "$t" "$(now)")"
    SCALE_EDIT_SUBMITTED="$(submissions "$WORK/scale-edit.log")"
    SCALE_FOUND="$(studies_in "$SCALE")"
    ((rc == 0 && SCALE_FOUND == SCALE_STUDIES)) || rc=1
    check "scale edit run" "$rc" "exit $rc in $T_SCALE_EDIT s, $SCALE_EDIT_SUBMITTED sbatch submissions, $SCALE_FOUND studies harmonized"
    ((rc == 0)) || tail -30 "$WORK/scale-edit.log"
    # A dry run prints no localrule marks; the real run marks the jobs it did not submit (rule all).
    job_blocks "$WORK/scale-edit.log" >"$WORK/scale-edit.ran"
    SUBMITTED_JOBS="$(grep -v ' (local)$' "$WORK/scale-edit.ran" | paste -sd, || true)"
    SHARD_JOBS="$(grep '^harmonize_shard' "$WORK/scale-edit.ran" | paste -sd, || true)"
    rc=1
    if sed 's/ (local)$//' "$WORK/scale-edit.ran" | diff -u "$WORK/scale-edit.planned" - | sed 's/^/    /'; then
        [[ "$SHARD_JOBS" == "harmonize_shard shard=$EDIT_SHARD" ]] && ((SCALE_EDIT_SUBMITTED > 0)) \
            && ! grep ' (local)$' "$WORK/scale-edit.ran" | grep -qv '^all (local)$' && rc=0
    fi
    check "scale edit jobs" "$rc" "the SLURM rebuild ran the $(grep -c . "$WORK/scale-edit.ran" || true) jobs the dry run planned; submitted to SLURM in $SCALE_EDIT_SUBMITTED sbatch calls: ${SUBMITTED_JOBS:-none}; local: $(grep ' (local)$' "$WORK/scale-edit.ran" | paste -sd, || true); shard jobs: ${SHARD_JOBS:-none} (expected only shard=$EDIT_SHARD, the shard of $EDIT_STUDY)"
    SHARD_CACHE="$(grep -o "cache studies/$EDIT_SHARD: .*" "$SCALE/results/logs/harmonize_shard/$EDIT_SHARD.log" 2>/dev/null | tail -1 || true)"
    rc=1
    [[ "$SHARD_CACHE" =~ :\ ([0-9]+)\ reused,\ 1\ computed$ ]] && ((BASH_REMATCH[1] > 0)) && rc=0
    check "scale edit cache" "$rc" "edited shard's cluster job: '${SHARD_CACHE:-no cache line}'; synthesize: $(grep -ho 'cache [a-z_]*: .*' "$SCALE/results/logs/synthesize.log" 2>/dev/null | paste -sd, || true)"

    local_and_compare "edit rebuild" "$WORK/scale-edit-local.log" T_SCALE_EDIT_LOCAL
fi

# ---------------------------------------------------------------- summary
echo
echo "=== SLURM cluster test summary ==="
printf '  %s\n' "${RESULTS[@]}"
echo "  setup (install + daemons up):   $(elapsed "$T_SETUP" "$T_READY") s"
echo "  local run (profiles/default):   $T_LOCAL s"
echo "  SLURM run (profiles/slurm):     $T_CLUSTER s, $SUBMITTED cluster jobs submitted"
echo "  failing job reported after:     $T_FAIL s"
if [[ -n "$T_SCALE" ]]; then
    echo "  $SCALE_STUDIES synthetic studies, cold:  SLURM $T_SCALE s, $SCALE_SUBMITTED cluster jobs submitted; local (2 cores) ${T_SCALE_LOCAL:-?} s"
    echo "  $SCALE_STUDIES synthetic studies, edit:  SLURM ${T_SCALE_EDIT:-?} s, ${SCALE_EDIT_SUBMITTED:-?} cluster jobs submitted; local (2 cores) ${T_SCALE_EDIT_LOCAL:-?} s"
fi
if ((FAILED)) || [[ "${KEEP_WORK:-0}" == 1 ]]; then
    echo "  logs: $WORK/{local,cluster,fail}.log, $S/log/"
    [[ -z "$T_SCALE" ]] || echo "        $WORK/scale{,-local,-dryrun,-edit,-edit-local}.log"
fi
echo "cluster-test: $PASSED passed, $FAILED failed"
((FAILED == 0))
