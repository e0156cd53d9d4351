#!/usr/bin/env bash
# Stop the SLURM daemons that .ci/slurm/setup.sh started, by the PIDs it recorded, and remove the
# files it wrote. Safe to run more than once, and when setup failed half-way.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

STATE=${ALSOFILTER_SLURM_STATE:-/tmp/alsofilter-slurm}
MARKER="# written by alsofilter .ci/slurm/setup.sh"

log() { echo "[slurm-teardown] $*" >&2; }

alive_as() {  # PID still runs the program NAME (not a recycled PID)?
    [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

if [ -f "$STATE/pids" ]; then
    # jobs first (they belong to the cluster), then slurmd, slurmctld, munged
    if command -v scancel >/dev/null && [ -f /etc/slurm/slurm.conf ]; then
        scancel --user="$(id -un)" >/dev/null 2>&1 || true
    fi
    for name in slurmd slurmctld munged; do
        while read -r prog pid; do
            [ "$prog" = "$name" ] || continue
            if alive_as "$pid" "$prog"; then
                kill -TERM "$pid" 2>/dev/null || true
                for _ in $(seq 50); do alive_as "$pid" "$prog" || break; sleep 0.2; done
                if alive_as "$pid" "$prog"; then
                    log "$prog (pid $pid) did not stop on TERM; sending KILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
                log "stopped $prog (pid $pid)"
            fi
        done <"$STATE/pids"
    done
    rm -f "$STATE/pids"
else
    log "no $STATE/pids: nothing recorded to stop"
fi

for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -f "$f" ] && grep -qF "$MARKER" "$f"; then
        rm -f "$f"
    fi
done
exit 0
