"""A Spark standalone cluster on loopback, started from the pyspark wheel's own classes.

One master and ``workers`` workers, each a JVM started with ``bin/spark-class`` (the wheel
has no ``start-master.sh``), on ports the OS hands out, with small memory. Used by the tests
and the benchmark; a real deployment points ``warehouse_url`` at its own cluster instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tally.errors import TallyError


class ClusterError(TallyError):
    """The local cluster did not come up."""


def spark_home() -> str:
    """The pyspark wheel's folder, which is a complete Spark distribution (jars, bin)."""
    import pyspark

    return str(Path(pyspark.__file__).parent)


def java_home() -> str:
    """Where Java is: JAVA_HOME, else the folder of the ``java`` on PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        raise ClusterError("no java on PATH (Debian: apt-get install openjdk-17-jre-headless)")
    return str(Path(os.path.realpath(java)).parent.parent)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalCluster:
    """A running master and its workers; ``stop()`` ends them (only them)."""

    folder: Path
    master_url: str = ""
    master: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return dict(
            os.environ,
            SPARK_HOME=spark_home(),
            JAVA_HOME=java_home(),
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_LOG_DIR=str(self.folder / "logs"),
            SPARK_WORKER_DIR=str(self.folder / "work"),
            SPARK_NO_DAEMONIZE="1",
        )

    def _spawn(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 (kept for the process)
        command = [f"{spark_home()}/bin/spark-class", *arguments]
        return subprocess.Popen(
            command,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )

    def start(self, workers: int = 2, worker_memory: str = "768m", timeout: float = 120) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.master_url = f"spark://127.0.0.1:{port}"
        self.master = self._spawn(
            "master",
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
            + ["--port", str(port), "--webui-port", str(free_port())],
        )
        self._wait("master", r"Starting Spark master at|I have been elected leader", timeout)
        for _ in range(workers):
            self.add_worker(worker_memory, timeout)

    def add_worker(self, memory: str = "768m", timeout: float = 120) -> subprocess.Popen[bytes]:
        name = f"worker-{len(self.workers) + 1}"
        worker = self._spawn(
            name,
            ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            + ["--port", str(free_port()), "--webui-port", str(free_port())]
            + ["--cores", "1", "--memory", memory, "--work-dir", str(self.folder / "work")]
            + [self.master_url],
        )
        self.workers.append(worker)
        self._wait(name, r"Successfully registered with master", timeout)
        return worker

    def kill_worker(self, index: int = 0) -> None:
        """End one worker and the executors it started, at once (as a machine lost)."""
        _end(self.workers[index], signal.SIGKILL)

    def _wait(self, name: str, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        log = self.folder / f"{name}.log"
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if re.search(pattern, text):
                return
            process = self.master if name == "master" else self.workers[-1]
            if process is not None and process.poll() is not None:
                raise ClusterError(f"Spark {name} exited: {text[-2000:]}")
            time.sleep(0.2)
        raise ClusterError(f"Spark {name} not up after {timeout:.0f} s (log {log})")

    def stop(self) -> None:
        for worker in self.workers:
            _end(worker, signal.SIGTERM)
        if self.master is not None:
            _end(self.master, signal.SIGTERM)
        self.workers, self.master = [], None


def _end(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, how)  # the JVM and the executors it started
    except ProcessLookupError:
        return
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
