#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the SLURM end-to-end test (tests/test_slurm.py).
#
#   sudo bash .ci/slurm/setup.sh      # install (Debian packages), configure, start, wait for idle
#   sudo bash .ci/slurm/teardown.sh   # stop what this script started, by PID, and remove its files
#
# Needs root and Debian's apt. Installs slurmctld, slurmd, slurm-client and munge if missing;
# writes /etc/slurm/slurm.conf and /etc/slurm/gres.conf (the default paths: the executor
# plugin's job step drops SLURM_CONF), refusing to overwrite files it did not write itself.
# The node is `localhost` with this machine's cores and memory, select/cons_tres,
# proctrack/linuxproc, task/none, no accounting, and fake GPUs (device files made with
# mknod, GRES type `testgpu`; two of them), so that `sbatch --gpus=1` and `--gpus=testgpu:1`
# are accepted.
# Started daemons and their PIDs are recorded under $ALSOFILTER_SLURM_STATE
# (default /tmp/alsofilter-slurm); teardown.sh stops exactly those.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"   # the daemons live there

STATE=${ALSOFILTER_SLURM_STATE:-/tmp/alsofilter-slurm}
CONF=/etc/slurm/slurm.conf
GRES_CONF=/etc/slurm/gres.conf
MARKER="# written by alsofilter .ci/slurm/setup.sh"
GPU_TYPE=testgpu
WAIT_S=${ALSOFILTER_SLURM_WAIT_S:-90}

log() { echo "[slurm-setup] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$STATE" in /?*/?*) ;; *) die "ALSOFILTER_SLURM_STATE=$STATE: give an absolute path two levels deep" ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, writes /etc/slurm, starts daemons)"

for f in "$CONF" "$GRES_CONF"; do
    if [ -e "$f" ] && ! grep -qF "$MARKER" "$f"; then
        die "$f exists and was not written by this script; refusing to overwrite a real SLURM set-up"
    fi
done

# ------------------------------------------------------------------ packages
need=()
for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install ${need[*]} by hand"
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${need[@]}" >"$STATE.apt.log" 2>&1; then
        apt-get update -q >>"$STATE.apt.log" 2>&1
        apt-get install -y -q --no-install-recommends "${need[@]}" >>"$STATE.apt.log" 2>&1 \
            || { tail -20 "$STATE.apt.log" >&2; die "apt-get install ${need[*]} failed"; }
    fi
fi

# ------------------------------------------------------------------ state folder
if [ -f "$STATE/pids" ]; then
    log "a previous cluster's PIDs are recorded in $STATE/pids; stopping it first"
    bash "$(dirname "$0")/teardown.sh"
fi
rm -rf "$STATE"
mkdir -p "$STATE"/{ctld,spool,log,dev}
: >"$STATE/pids"

# ------------------------------------------------------------------ munge
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
    log "munged already running; using it"
else
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then mungekey --create --force; else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    # setpriv execs munged itself, so $! is munged's PID
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
        >"$STATE/log/munged.out" 2>&1 &
    echo "munged $!" >>"$STATE/pids"
    for _ in $(seq 50); do munge_ok && break; sleep 0.2; done
    munge_ok || { cat "$STATE/log/munged.out" >&2; die "munged did not start"; }
    log "munged started (pid $!)"
fi

# ------------------------------------------------------------------ configuration
# every CPU of the machine, also when this runs pinned to fewer (taskset): a job asking for the
# machine's cores must fit, and the daemons' jobs inherit the pinning anyway
cpus=$(nproc --all)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
mem_mb=$((mem_mb > 2048 ? mem_mb - 1024 : mem_mb))   # leave some for the OS, or slurmd drains the node

# Fake GPUs: slurmd only needs device files to hand out. Two, so two training jobs can overlap.
gpus=2
for i in $(seq 0 $((gpus - 1))); do mknod -m 666 "$STATE/dev/gpu$i" c 195 "$i"; done

mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARKER (removed by teardown.sh)
ClusterName=alsofilter-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$GPU_TYPE:$gpus State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$GRES_CONF" <<EOF
$MARKER (removed by teardown.sh)
AutoDetect=off
NodeName=localhost Name=gpu Type=$GPU_TYPE File=$STATE/dev/gpu[0-$((gpus - 1))]
EOF
log "wrote $CONF (CPUs=$cpus RealMemory=$mem_mb, $gpus fake GPUs of type $GPU_TYPE) and $GRES_CONF"

# ------------------------------------------------------------------ daemons
slurmctld -D -c -f "$CONF" >"$STATE/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >>"$STATE/pids"
log "slurmctld started (pid $!)"
slurmd -D -N localhost -f "$CONF" >"$STATE/log/slurmd.out" 2>&1 &
echo "slurmd $!" >>"$STATE/pids"
log "slurmd started (pid $!)"

show_logs() {
    for f in "$STATE"/log/*; do echo "--- $f" >&2; tail -25 "$f" >&2; done
    scontrol show node localhost >&2 || true
}

deadline=$((SECONDS + WAIT_S))
state=""
while [ $SECONDS -lt $deadline ]; do
    state=$(sinfo -h -N -n localhost -o '%t' 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && break
    # a node left drained/down by an earlier registration can be returned to service
    case "$state" in drain*|down*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;; esac
    sleep 1
done
if [ "$state" != idle ]; then
    show_logs
    die "node localhost not idle after ${WAIT_S}s (state: '${state:-none}')"
fi
log "cluster up: $(sinfo -h -o '%P %a %D %t %G')"
