#!/usr/bin/env python3
"""A throwaway single-node SLURM cluster and a PostgreSQL-backed MLflow server, for tests.

    python tests/cluster/services.py up       # install what is missing, start everything
    python tests/cluster/services.py status   # the state file and whether each service answers
    python tests/cluster/services.py check    # srun, sbatch + sacct, an MLflow run: end to end
    python tests/cluster/services.py env      # `export SLURM_CONF=... MLFLOW_TRACKING_URI=...`
    python tests/cluster/services.py down     # stop everything, verify nothing is left

Everything listens on 127.0.0.1 only, on free ports picked at `up`, and lives in one state
directory ($BIOTAB_CLUSTER_DIR, default /tmp/biotab-cluster), wiped at the next fresh `up`:

    state.json      ports, tracking URI, partition, timings (written last: present means "up")
    munge/          munged's socket, pid, log (munged runs as the `munge` user, as Debian does)
    mariadb/        MariaDB data, socket, log: the accounting database of slurmdbd
    slurm/          slurm.conf, slurmdbd.conf, daemon logs and pid files, spool and state save
    postgres/       a PostgreSQL cluster (initdb as the `postgres` user), socket, log
    mlflow/         the server's log;  mlartifacts/  the artifacts it serves

Why slurmdbd and MariaDB: submitit (hydra's SLURM launcher) learns that a job ended without a
result (cancelled, killed, node failure) only from `sacct`, and `sacct` needs slurmdbd, which
only speaks MySQL/MariaDB. Without them a cancelled job's sweep waits forever in state UNKNOWN.

Why no cgroups: the daemons run without systemd in a VM/container whose cgroup tree is not
delegated to us, so processes are tracked by walking /proc (proctrack/linuxproc) and tasks are
not confined (task/none). Consequence: memory and CPU requests are scheduled, never enforced.

Standard library only; the daemons are Debian's (apt-get), psycopg2-binary goes into the venv.
Every daemon is started as a child detached into its own session and stopped by the pid it
recorded, never by name.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("BIOTAB_VENV", ROOT / ".venv"))
STATE_DIR = Path(os.environ.get("BIOTAB_CLUSTER_DIR", "/tmp/biotab-cluster"))
STATE_FILE = STATE_DIR / "state.json"
PARTITION = "debug"
CLUSTER_NAME = "biotab"

APT_PACKAGES = ["slurmctld", "slurmd", "slurm-client", "slurmdbd", "munge", "mariadb-server", "postgresql"]
MUNGE_KEY = Path("/etc/munge/munge.key")
RESERVED_MEMORY_MB = 2048  # left out of RealMemory for the daemons, PostgreSQL and the MLflow server


# --------------------------------------------------------------------------- small helpers


def log(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def run(*cmd: str, check: bool = True, env: dict | None = None, timeout: float = 120,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture its output; on failure raise with the output in the message."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    except FileNotFoundError:  # not installed yet: a probe (check=False) just answers "no"
        if check:
            raise
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: not installed")
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def as_user(user: str, *cmd: str) -> tuple[str, ...]:
    """`cmd` run as a system user: initdb refuses root, munged wants its key owner."""
    return ("runuser", "-u", user, "--", *cmd)


def free_port() -> int:
    """A TCP port free on loopback right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"({path} not written)"
    return f"--- last lines of {path}:\n" + "\n".join(text)


def wait_for(what: str, ready, timeout: float, logs: list[Path] = ()) -> None:
    """Poll `ready()` until true; on timeout raise with the ends of the daemon logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s\n" + "\n".join(tail(p) for p in logs))


def detach(cmd: list[str], logfile: Path, env: dict | None = None) -> int:
    """Start a daemon that does not fork by itself: own session, output to its log, pid returned."""
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True)
    return proc.pid


def stop_pid(name: str, pid: int | None, timeout: float = 20, group: bool = False) -> None:
    """SIGTERM a recorded pid (or its process group), SIGKILL it if it outlives `timeout`."""
    if not pid_alive(pid):
        return
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    reap(pid)
    if pid_alive(pid):
        log(f"{name} ({pid}) ignored SIGTERM for {timeout:.0f} s: SIGKILL")
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reap(pid: int) -> None:
    """Collect the exit status of a daemon that is our own child (MariaDB, the MLflow server
    started from this process), so that no zombie lingers while, say, pytest keeps running."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: init reaps it
        pass


def state() -> dict:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}


def slurm_env() -> dict:
    """The environment every SLURM client (sinfo, sbatch, submitit) needs: our slurm.conf."""
    return dict(os.environ, SLURM_CONF=str(STATE_DIR / "slurm" / "slurm.conf"))


def owned_dir(path: Path, user: str | None = None, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if user:
        shutil.chown(path, user, user)
    return path


# --------------------------------------------------------------------------- installation


def missing_packages() -> list[str]:
    missing = []
    for pkg in APT_PACKAGES:
        status = run("dpkg-query", "-W", "-f=${Status}", pkg, check=False).stdout
        if status != "install ok installed":
            missing.append(pkg)
    return missing


def install() -> None:
    """apt-get only what is missing; psycopg2-binary into the venv only if it does not import."""
    missing = missing_packages()
    if missing:
        log(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-q", env=env, timeout=600)
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env, timeout=1200)
    python = VENV / "bin" / "python"
    if run(str(python), "-c", "import psycopg2", check=False).returncode != 0:
        log("pip install psycopg2-binary")
        run(str(python), "-m", "pip", "install", "-q", "psycopg2-binary", timeout=600)


def postgres_bin() -> Path:
    """Debian's newest /usr/lib/postgresql/<version>/bin (initdb and pg_ctl live only there)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: is the postgresql package installed?")
    return versions[-1].parent


# --------------------------------------------------------------------------- munge


def munge_paths() -> dict:
    d = STATE_DIR / "munge"
    return {"dir": d, "socket": d / "munge.socket", "pid": d / "munged.pid", "log": d / "munged.log"}


def start_munge() -> None:
    """munged authenticates every SLURM message; its own socket keeps it apart from a system one."""
    if not MUNGE_KEY.exists():  # the munge package normally creates it; recreate with its perms
        run("mungekey", "--create", "--keyfile", str(MUNGE_KEY))
    shutil.chown(MUNGE_KEY, "munge", "munge")
    MUNGE_KEY.chmod(0o400)
    p = munge_paths()
    owned_dir(p["dir"], "munge", 0o755)
    run(*as_user("munge", "/usr/sbin/munged", f"--socket={p['socket']}", f"--pid-file={p['pid']}",
                 f"--log-file={p['log']}", f"--seed-file={p['dir'] / 'munged.seed'}",
                 f"--key-file={MUNGE_KEY}"))
    wait_for("munged", lambda: munge_ok(), 15, [p["log"]])


def munge_ok() -> bool:
    sock = str(munge_paths()["socket"])
    cred = run("munge", "-n", "-S", sock, check=False)
    return cred.returncode == 0 and run("unmunge", "-S", sock, input=cred.stdout, check=False).returncode == 0


def stop_munge() -> None:
    stop_pid("munged", read_pid(munge_paths()["pid"]))


# --------------------------------------------------------------------------- MariaDB (for slurmdbd)


def mariadb_paths() -> dict:
    d = STATE_DIR / "mariadb"
    return {"dir": d, "data": d / "data", "socket": d / "mariadb.sock", "pid": d / "mariadb.pid",
            "log": d / "mariadb.log"}


def start_mariadb(port: int) -> None:
    """A private MariaDB on loopback holding only slurmdbd's accounting tables."""
    p = mariadb_paths()
    owned_dir(p["dir"], "mysql")
    run("mariadb-install-db", "--no-defaults", f"--datadir={p['data']}", "--user=mysql",
        "--auth-root-authentication-method=socket", "--skip-test-db", timeout=300)
    detach(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={p['data']}", f"--socket={p['socket']}",
            f"--pid-file={p['pid']}", f"--log-error={p['log']}", "--bind-address=127.0.0.1", f"--port={port}",
            "--skip-name-resolve", "--skip-log-bin", "--innodb-lock-wait-timeout=900"],
           p["dir"] / "mariadbd.out")
    wait_for("MariaDB", lambda: mariadb_ok(), 60, [p["log"]])
    # root logs in over the socket as the OS root (unix_socket auth); slurmdbd over TCP as `slurm`
    mariadb_sql("CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")


def mariadb_sql(sql: str) -> str:
    sock = mariadb_paths()["socket"]
    return run("mariadb", "--no-defaults", f"--socket={sock}", "-u", "root", "-N", "-e", sql).stdout


def mariadb_ok() -> bool:
    sock = mariadb_paths()["socket"]
    return run("mariadb-admin", "--no-defaults", f"--socket={sock}", "-u", "root", "ping",
               check=False).returncode == 0


def stop_mariadb() -> None:
    stop_pid("mariadbd", read_pid(mariadb_paths()["pid"]), timeout=60)


# --------------------------------------------------------------------------- SLURM


def slurm_paths() -> dict:
    d = STATE_DIR / "slurm"
    daemons = ("slurmctld", "slurmd", "slurmdbd")
    return {"dir": d, "conf": d / "slurm.conf", "dbd_conf": d / "slurmdbd.conf",
            **{f"{n}_{k}": d / f"{n}.{k}" for n in daemons for k in ("pid", "log")}}


def node_hardware() -> dict:
    """The CPU layout as slurmd detects it (a mismatch would drain the node), memory from /proc."""
    line = run("slurmd", "-C").stdout.splitlines()[0]
    hw = dict(kv.split("=", 1) for kv in line.split())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    hw["RealMemory"] = str(mem_kb // 1024 - RESERVED_MEMORY_MB)
    return hw


def write_slurm_conf(ports: dict) -> str:
    p = slurm_paths()
    host = socket.gethostname().split(".")[0]  # what `hostname -s` prints: slurmd finds its node by it
    hw = node_hardware()
    layout = " ".join(f"{k}={hw[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
                                               "ThreadsPerCore", "RealMemory") if k in hw)
    conf = f"""\
# Written by tests/cluster/services.py: a one-node cluster on loopback, for tests.
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports['slurmctld']}
SlurmdPort={ports['slurmd']}
# slurmctld, slurmd and srun bind to the hostname's address (127.0.0.1), not to every interface
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_paths()['socket']}
StateSaveLocation={p['dir'] / 'state'}
SlurmdSpoolDir={p['dir'] / 'spool'}
SlurmctldPidFile={p['slurmctld_pid']}
SlurmdPidFile={p['slurmd_pid']}
SlurmctldLogFile={p['slurmctld_log']}
SlurmdLogFile={p['slurmd_log']}
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: we are not systemd's child and the cgroup tree is not ours to delegate.
# Processes are tracked through /proc, tasks are not confined (limits are not enforced).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# sacct (which submitit polls to see cancelled or failed jobs) needs slurmdbd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports['slurmdbd']}
# with munge, the "password" to slurmdbd is the munged socket (else sacctmgr asks /run/munge)
AccountingStoragePass={munge_paths()['socket']}
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# a restarted slurmd rejoins idle; a cancelled job gets SIGKILL 5 s after SIGTERM
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName={host} NodeAddr=127.0.0.1 {layout} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    p["conf"].write_text(conf)
    dbd = f"""\
# slurmdbd: job accounting for sacct, stored in the private MariaDB
AuthType=auth/munge
AuthInfo=socket={munge_paths()['socket']}
DbdHost={host}
DbdAddr=127.0.0.1
DbdPort={ports['slurmdbd']}
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile={p['slurmdbd_pid']}
LogFile={p['slurmdbd_log']}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports['mariadb']}
StorageUser=slurm
StorageLoc=slurm_acct_db
"""
    p["dbd_conf"].write_text(dbd)
    p["dbd_conf"].chmod(0o600)  # slurmdbd refuses a config others can read
    return conf


def start_slurmdbd() -> None:
    p = slurm_paths()
    run("slurmdbd", env=dict(slurm_env(), SLURM_CONF=str(p["conf"])))  # forks; finds slurmdbd.conf beside
    wait_for("slurmdbd", lambda: run("sacctmgr", "-n", "show", "cluster", env=slurm_env(),
                                     check=False).returncode == 0, 60, [p["slurmdbd_log"]])
    # the cluster must exist in the database before slurmctld registers
    run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME, env=slurm_env(), check=False)


def start_slurmctld() -> None:
    p = slurm_paths()
    for sub in ("state", "spool"):
        owned_dir(p["dir"] / sub)
    run("slurmctld", "-f", str(p["conf"]), env=slurm_env())  # daemonises, writes its pid file
    wait_for("slurmctld", lambda: run("scontrol", "ping", env=slurm_env(), check=False).returncode == 0,
             60, [p["slurmctld_log"]])


def start_slurmd() -> None:
    p = slurm_paths()
    run("slurmd", "-f", str(p["conf"]), env=slurm_env())
    wait_for(f"node idle in partition {PARTITION}", node_idle, 90, [p["slurmd_log"], p["slurmctld_log"]])


def node_state() -> str:
    """The node's state as sinfo prints it: idle, allocated, mixed; `idle*` = not responding."""
    return run("sinfo", "-h", "-p", PARTITION, "-o", "%T", env=slurm_env(), check=False).stdout.strip()


def node_idle() -> bool:
    return node_state() == "idle"


def slurm_ok() -> bool:
    return run("scontrol", "ping", env=slurm_env(), check=False).returncode == 0


def stop_slurm() -> None:
    """Cancel every job (stepd would outlive slurmd), then slurmd, slurmctld, slurmdbd."""
    p = slurm_paths()
    env = slurm_env()
    if pid_alive(read_pid(p["slurmctld_pid"])):
        run("scancel", "--partition", PARTITION, env=env, check=False)
        wait_for_no_jobs(env)
    stop_pid("slurmd", read_pid(p["slurmd_pid"]))
    stop_pid("slurmctld", read_pid(p["slurmctld_pid"]))
    stop_pid("slurmdbd", read_pid(p["slurmdbd_pid"]))


def wait_for_no_jobs(env: dict, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run("squeue", "-h", "-o", "%i", env=env, check=False)
        if out.returncode != 0 or not out.stdout.strip():
            return
        time.sleep(0.5)
    log("jobs still listed after scancel; stopping the daemons anyway")


# --------------------------------------------------------------------------- PostgreSQL


def postgres_paths() -> dict:
    d = STATE_DIR / "postgres"
    return {"dir": d, "data": d / "data", "log": d / "postgres.log"}


def start_postgres(port: int) -> None:
    """A throwaway PostgreSQL cluster; initdb refuses root, so it is the `postgres` user's."""
    p = postgres_paths()
    bin_ = postgres_bin()
    owned_dir(p["dir"], "postgres")
    # trust on loopback and the socket: nothing but this machine can reach it
    run(*as_user("postgres", str(bin_ / "initdb"), "-D", str(p["data"]), "--auth=trust",
                 "--username=postgres", "--encoding=UTF8", "--no-sync"), timeout=300)
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={p['dir']} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    run(*as_user("postgres", str(bin_ / "pg_ctl"), "start", "-D", str(p["data"]), "-l", str(p["log"]),
                 "-w", "-t", "60", "-o", options), timeout=90)
    psql = (str(bin_ / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1")
    run(*psql, "-c", "CREATE ROLE biotab LOGIN")
    run(*psql, "-c", "CREATE DATABASE biotab OWNER biotab")


def postgres_ok(port: int) -> bool:
    return run(str(postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
               check=False).returncode == 0


def stop_postgres() -> None:
    p = postgres_paths()
    if not (p["data"] / "postmaster.pid").exists():
        return
    run(*as_user("postgres", str(postgres_bin() / "pg_ctl"), "stop", "-D", str(p["data"]), "-m", "fast",
                 "-w", "-t", "60"), check=False, timeout=90)


# --------------------------------------------------------------------------- MLflow server


def mlflow_paths() -> dict:
    d = STATE_DIR / "mlflow"
    return {"dir": d, "log": d / "server.log", "pid": d / "server.pid",
            "artifacts": STATE_DIR / "mlartifacts"}


def start_mlflow(port: int, pg_port: int) -> str:
    """Launch `mlflow server` over PostgreSQL, serving artifacts from the state dir; returns its
    URI at once: its import and schema migrations take seconds, wait_mlflow() waits for them."""
    p = mlflow_paths()
    owned_dir(p["dir"])
    owned_dir(p["artifacts"])
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    # +psycopg2: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed
    pid = detach([str(VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "1",
                  "--backend-store-uri", f"postgresql+psycopg2://biotab@127.0.0.1:{pg_port}/biotab",
                  "--artifacts-destination", str(p["artifacts"])], p["log"], env=env)
    p["pid"].write_text(str(pid))
    return f"http://127.0.0.1:{port}"


def wait_mlflow(uri: str) -> None:
    p = mlflow_paths()
    pid = read_pid(p["pid"])
    wait_for("MLflow server /health", lambda: mlflow_ok(uri) or not pid_alive(pid), 180, [p["log"]])
    if not pid_alive(pid):
        raise RuntimeError("mlflow server exited\n" + tail(p["log"]))


def mlflow_ok(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop_mlflow() -> None:
    # the server is a session leader: its uvicorn worker is in its process group
    stop_pid("mlflow server", read_pid(mlflow_paths()["pid"]), group=True)


# --------------------------------------------------------------------------- up / down / status


def services_answering(st: dict) -> dict:
    ports = st.get("ports", {})
    return {
        "munge": munge_ok(),
        "mariadb": mariadb_ok(),
        "slurmdbd": bool(ports) and port_open(ports["slurmdbd"]),
        "slurmctld": slurm_ok(),
        "slurmd": node_state() in ("idle", "mixed", "allocated", "completing"),
        "postgres": bool(ports) and postgres_ok(ports["postgres"]),
        "mlflow": bool(st.get("tracking_uri")) and mlflow_ok(st["tracking_uri"]),
    }


def up() -> dict:
    """Start everything (installing first); reuse a cluster that fully answers already."""
    st = state()
    if st and all(services_answering(st).values()):
        log(f"already up (state in {STATE_FILE})")
        return st
    t0 = time.monotonic()
    if st:
        log("partial cluster: stopping what is left, starting afresh")
    if STATE_DIR.exists():  # the last run's data and logs: a fresh cluster starts from nothing
        down()
        wipe_state()
    owned_dir(STATE_DIR)
    timings = {}
    ports = {k: free_port() for k in ("slurmctld", "slurmd", "slurmdbd", "mariadb", "postgres", "mlflow")}

    def step(name: str, fn, *args):
        t0 = time.monotonic()
        result = fn(*args)
        timings[name] = round(time.monotonic() - t0, 1)
        log(f"{name}: {timings[name]} s")
        return result

    try:
        step("install", install)
        owned_dir(slurm_paths()["dir"])
        step("slurm.conf", write_slurm_conf, ports)
        step("munge", start_munge)
        step("mariadb", start_mariadb, ports["mariadb"])
        step("postgres", start_postgres, ports["postgres"])
        # the MLflow server warms up (imports, migrations) while SLURM starts
        uri = step("mlflow launch", start_mlflow, ports["mlflow"], ports["postgres"])
        step("slurmdbd", start_slurmdbd)
        step("slurmctld", start_slurmctld)
        step("slurmd", start_slurmd)
        step("mlflow ready", wait_mlflow, uri)
    except BaseException:
        log("up failed: stopping what was started (logs stay in the state dir)")
        down()
        raise
    st = {
        "state_dir": str(STATE_DIR),
        "slurm_conf": str(slurm_paths()["conf"]),
        "partition": PARTITION,
        "node": socket.gethostname().split(".")[0],
        "tracking_uri": uri,
        "backend_store_uri": f"postgresql+psycopg2://biotab@127.0.0.1:{ports['postgres']}/biotab",
        "artifacts_dir": str(mlflow_paths()["artifacts"]),
        "ports": ports,
        "timings_s": timings,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    STATE_FILE.write_text(json.dumps(st, indent=2) + "\n")
    log(f"up in {time.monotonic() - t0:.1f} s; {STATE_FILE}")
    return st


def wipe_state() -> None:
    """Remove what an earlier `up` left, and only that ($BIOTAB_CLUSTER_DIR may hold more)."""
    for name in ("munge", "mariadb", "slurm", "postgres", "mlflow", "mlartifacts"):
        shutil.rmtree(STATE_DIR / name, ignore_errors=True)
    for path in [STATE_FILE, *STATE_DIR.glob("check-*.out")]:
        path.unlink(missing_ok=True)


def down() -> list[str]:
    """Stop everything in reverse order; idempotent. Returns (and reports) leftover processes."""
    t0 = time.monotonic()
    stop_mlflow()
    stop_postgres()
    stop_slurm()
    stop_mariadb()
    stop_munge()
    STATE_FILE.unlink(missing_ok=True)
    left = leftovers()
    if left:
        log("STILL RUNNING:\n  " + "\n  ".join(left))
    else:
        log(f"down in {time.monotonic() - t0:.1f} s; no cluster process left")
    return left


# slurmdbd takes no -f, so its command line does not name the state dir; a system PostgreSQL
# must not count, so `postgres` is matched through its data dir (and its children through it)
DAEMONS = {"munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "slurmstepd"}


def leftovers() -> list[str]:
    """Processes of ours still alive: a daemon's name or the state dir in the command line, and
    every descendant of one (PostgreSQL's workers, the MLflow server's uvicorn)."""
    procs = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat[0] == "Z":  # exited, waiting for init to reap it: not running
            continue
        ppid = int(stat[1])
        procs[int(proc.name)] = (ppid, comm, cmdline)
    ours = {pid for pid, (_, comm, cmd) in procs.items() if comm in DAEMONS or str(STATE_DIR) in cmd}
    grew = True
    while grew:  # add descendants until nothing changes
        new = {pid for pid, (ppid, _, _) in procs.items() if ppid in ours} - ours
        ours |= new
        grew = bool(new)
    return [f"{pid} {procs[pid][1]}: {procs[pid][2][:160]}" for pid in sorted(ours)]


def status() -> bool:
    st = state()
    print(json.dumps(st, indent=2) if st else f"no state file at {STATE_FILE}")
    answers = services_answering(st)
    for name, ok in answers.items():
        print(f"  {name:<10} {'answers' if ok else 'DOWN'}")
    return all(answers.values())


def env_lines() -> str:
    st = state()
    if not st:
        raise SystemExit(f"not up: no {STATE_FILE}")
    return f"export SLURM_CONF={st['slurm_conf']} MLFLOW_TRACKING_URI={st['tracking_uri']}"


# --------------------------------------------------------------------------- end-to-end check


def check() -> None:
    """srun, sbatch + sacct, and one MLflow run through the server into PostgreSQL."""
    st = state()
    env = slurm_env()
    host = run("srun", "-p", PARTITION, "hostname", env=env, timeout=60).stdout.strip()
    log(f"srun hostname -> {host}")
    job = run("sbatch", "--parsable", "-p", PARTITION, "-o", str(STATE_DIR / "check-%j.out"),
              "--wrap", "echo hello from $SLURM_JOB_ID", env=env).stdout.strip().split(";")[0]
    wait_for(f"job {job} COMPLETED in sacct", lambda: sacct_state(job) == "COMPLETED", 60,
             [slurm_paths()["slurmd_log"]])
    log(f"sbatch job {job}: COMPLETED; {(STATE_DIR / f'check-{job}.out').read_text().strip()}")
    code = ("import mlflow, sys; c = mlflow.MlflowClient(sys.argv[1]);"
            "r = c.create_run(c.get_experiment_by_name('Default').experiment_id);"
            "c.log_metric(r.info.run_id, 'x', 1.0); c.log_text(r.info.run_id, 'hi', 'a.txt');"
            "c.set_terminated(r.info.run_id); print(c.get_run(r.info.run_id).info.status)")
    out = run(str(VENV / "bin" / "python"), "-c", code, st["tracking_uri"],
              env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"), timeout=120).stdout.split()[-1]
    log(f"MLflow run through {st['tracking_uri']}: {out}")


def sacct_state(job: str) -> str:
    out = run("sacct", "-n", "-X", "-P", "-o", "State", "-j", job, env=slurm_env(), check=False)
    out = out.stdout.split()
    return out[0] if out else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "check", "env"])
    cmd = parser.parse_args().command
    if os.geteuid() != 0:
        raise SystemExit("run as root: the daemons, apt-get and runuser need it")
    if cmd == "up":
        up()
    elif cmd == "down":
        sys.exit(1 if down() else 0)
    elif cmd == "status":
        sys.exit(0 if status() else 1)
    elif cmd == "check":
        check()
    else:
        print(env_lines())


if __name__ == "__main__":
    main()
