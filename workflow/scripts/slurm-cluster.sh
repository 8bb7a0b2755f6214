#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on this machine, for CI and for trying the SLURM profile:
# munged, MariaDB + slurmdbd (accounting: the SLURM executor plugin asks `sacct` for job states),
# slurmctld and slurmd, all on localhost with free ports, private sockets and one state
# directory. Nothing under /etc is touched: clients find the cluster through SLURM_CONF, and
# through wrappers of the client commands in <state>/bin that set it (the SLURM executor plugin's
# job step runs a nested `srun` with every SLURM_* variable removed, as on a cluster whose
# configuration sits in /etc/slurm).
#
#   bash workflow/scripts/slurm-cluster.sh start    # prints the two `export` lines to use it
#   bash workflow/scripts/slurm-cluster.sh status   # sinfo of the running cluster
#   bash workflow/scripts/slurm-cluster.sh stop     # stops every daemon it started
#
# Environment: DL4HEP_SLURM_DIR (state directory, default ${TMPDIR:-/tmp}/dl4hep-slurm),
# DL4HEP_SLURM_CPUS (CPUs of the node, default: this machine's), DL4HEP_SLURM_MEM_MB (memory of
# the node, default 32000: the largest rule asks for 16000 MB; not enforced, jobs use what they
# use), DL4HEP_SLURM_GPUS (GPUs the node announces, default 1; without CUDA devices they are
# placeholders so that GPU requests schedule, and torch finds no GPU and trains on the CPU).
# Partitions: `cpu` (default) and `gpu`, both on the one node, as in workflow/profiles/slurm.
#
# Exit status of `start`: 0 running; 3 this machine cannot run it (a binary is missing or a
# daemon does not start: the message says which, and its log is printed); the daemons that did
# start are stopped again.
set -uo pipefail

dir="${DL4HEP_SLURM_DIR:-${TMPDIR:-/tmp}/dl4hep-slurm}"
cluster=dl4hep
node=dl4hep-node

say() { echo "slurm-cluster: $*" >&2; }

pidfile_of() { echo "$dir/run/$1.pid"; }

daemon_pid() {  # pid of a daemon this script started, if it is still alive
  local f; f="$(pidfile_of "$1")"
  [ -s "$f" ] || return 1
  local pid; pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

stop_one() {
  local name="$1" pid
  pid="$(daemon_pid "$name")" || { rm -f "$(pidfile_of "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$(pidfile_of "$name")"
}

stop_all() {
  # jobs first (a running job step would keep slurmd busy), then the daemons, reverse order
  if daemon_pid slurmctld >/dev/null; then
    SLURM_CONF="$dir/etc/slurm.conf" scancel --quiet --full --user "$(id -un)" 2>/dev/null || true
  fi
  for d in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$d"; done
}

fail() {  # fail NAME MESSAGE: print the daemon's log, stop what runs, exit 3
  say "cannot start the cluster: $2"
  [ -n "$1" ] && [ -f "$dir/log/$1.log" ] && { say "last lines of $dir/log/$1.log:"; tail -n 20 "$dir/log/$1.log" >&2; }
  stop_all
  exit 3
}

wait_for() {  # wait_for SECONDS NAME 'SHELL COMMAND': poll until it succeeds (each try at most 10 s)
  local secs="$1" name="$2" probe="$3"
  local deadline=$((SECONDS + secs))
  while [ "$SECONDS" -lt "$deadline" ]; do
    timeout 10 bash -c "$probe" >/dev/null 2>&1 && return 0
    daemon_pid "$name" >/dev/null || fail "$name" "$name exited during start-up"
    sleep 0.3
  done
  fail "$name" "$name is not ready after $secs s"
}

free_ports() {  # N free TCP ports on 127.0.0.1
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start() {
  local missing=()
  for b in munged mungekey slurmctld slurmd slurmdbd mariadbd mariadb-install-db sbatch sacct sacctmgr sinfo python3; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "cannot start the cluster: missing ${missing[*]} (run workflow/scripts/install-system-packages.sh as root)"
    exit 3
  fi
  export PATH="$PATH:/usr/sbin"
  if daemon_pid slurmctld >/dev/null && daemon_pid slurmd >/dev/null; then
    say "already running in $dir"
    print_env
    return 0
  fi
  stop_all
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,etc,run,log,state,spool,munge,mysql}
  chmod 700 "$dir/munge" "$dir/etc"

  local user cpus mem gpus
  user="$(id -un)"
  cpus="${DL4HEP_SLURM_CPUS:-$(nproc)}"
  mem="${DL4HEP_SLURM_MEM_MB:-32000}"
  gpus="${DL4HEP_SLURM_GPUS:-1}"
  for v in "$cpus" "$mem" "$gpus"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { say "DL4HEP_SLURM_CPUS/MEM_MB/GPUS must be whole numbers, got '$v'"; exit 2; }
  done
  read -r ctld_port slurmd_port dbd_port db_port < <(free_ports 4)

  # munge: private key and socket; AuthInfo below points slurm at this socket
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 || fail "" "mungekey failed"
  chmod 600 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
    --pid-file="$(pidfile_of munged)" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/seed" >/dev/null 2>&1 || fail munged "munged did not start"
  wait_for 10 munged "test -S $dir/munge/socket"

  # MariaDB for slurmdbd: private datadir, loopback only, no grant tables (nothing else can reach it)
  local dbuser=()
  [ "$(id -u)" -eq 0 ] && dbuser=(--user=root)
  mariadb-install-db --no-defaults --datadir="$dir/mysql" "${dbuser[@]}" --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 || fail mariadb-install "mariadb-install-db failed"
  (mariadbd --no-defaults --datadir="$dir/mysql" "${dbuser[@]}" --bind-address=127.0.0.1 --port="$db_port" \
     --socket="$dir/run/mysql.sock" --pid-file="$dir/run/mariadbd.real.pid" --log-error="$dir/log/mariadbd.log" \
     --skip-grant-tables --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --skip-log-bin \
     >/dev/null 2>&1 & echo $! >"$(pidfile_of mariadbd)")
  wait_for 60 mariadbd "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $db_port), 1)'"

  local auth="AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket"
  cat >"$dir/etc/slurmdbd.conf" <<EOF
$auth
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=$user
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=$user
StorageLoc=slurm_acct_db
PidFile=$(pidfile_of slurmdbd)
LogFile=$dir/log/slurmdbd.log
DebugLevel=info
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"

  local gres_line="" gres_types=""
  if [ "$gpus" -gt 0 ]; then
    gres_types="GresTypes=gpu"
    gres_line="Gres=gpu:$gpus"
    # no device files behind them: /dev/null stands in (AutoDetect off)
    { echo "AutoDetect=off"; for i in $(seq "$gpus"); do echo "NodeName=$node Name=gpu File=/dev/null"; done; } >"$dir/etc/gres.conf"
  fi
  cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=$cluster
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$(id -un)
$auth
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$(pidfile_of slurmctld)
SlurmdPidFile=$(pidfile_of slurmd)
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
# the munge socket for talking to slurmdbd (slurm.conf's AuthInfo does not apply to it)
AccountingStoragePass=$dir/munge/socket
# keep sbatch --comment (the plugin writes rule and wildcards there) and GPU allocations for sacct
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
$gres_types
NodeName=$node NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $gres_line State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node Default=NO MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/etc/slurm.conf"
  local c real
  for c in srun sbatch salloc squeue sacct sacctmgr sinfo scontrol scancel sshare sstat; do
    real="$(command -v "$c")" || continue
    printf '#!/bin/sh\n# client of the dl4hep CI cluster (workflow/scripts/slurm-cluster.sh)\nSLURM_CONF=%s exec %s "$@"\n' \
      "$SLURM_CONF" "$real" >"$dir/bin/$c"
    chmod +x "$dir/bin/$c"
  done

  slurmdbd >/dev/null 2>&1 || fail slurmdbd "slurmdbd did not start"
  wait_for 60 slurmdbd "sacctmgr -n list cluster"
  sacctmgr -i add cluster "$cluster" >/dev/null 2>&1 || fail slurmdbd "sacctmgr add cluster failed"

  slurmctld -c >/dev/null 2>&1 || fail slurmctld "slurmctld did not start"
  wait_for 30 slurmctld "scontrol ping"
  slurmd -N "$node" >/dev/null 2>&1 || fail slurmd "slurmd did not start"
  wait_for 60 slurmd "sinfo -h -n $node -o %T | grep -Eq '^(idle|mixed|allocated)'"
  say "running in $dir (cluster $cluster: 1 node, $cpus CPUs, $mem MB, $gpus GPU placeholders; partitions cpu, gpu)"
  print_env
}

print_env() {
  echo "export SLURM_CONF=$dir/etc/slurm.conf"
  echo "export PATH=$dir/bin:\$PATH"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all; say "stopped (state kept in $dir)" ;;
  status)
    for d in munged mariadbd slurmdbd slurmctld slurmd; do
      if pid="$(daemon_pid "$d")"; then echo "$d running (pid $pid)"; else echo "$d not running"; fi
    done
    [ -f "$dir/etc/slurm.conf" ] && SLURM_CONF="$dir/etc/slurm.conf" sinfo 2>/dev/null
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
