"""What /proc and the kernel say about the local stack's processes: alive (zombies are not), ports in
use, locks held and by whom (OpenSearch's data folder among them). Linux only, like the stack itself."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path


def port_in_use(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", number)) == 0


def task_state(stat: Path) -> str | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True while any thread of the process runs. A process that died but was not reaped yet (a
    zombie: a crashed server whose parent, e.g. the test session that started the stack, has not
    waited for it) is dead. A killed JVM's main thread turns zombie first, while its other threads
    still exit and still hold its ports and locks: that is not dead yet."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    except ChildProcessError:
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        states = [task_state(task / "stat") for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        states = [task_state(Path(f"/proc/{pid}/stat"))]
    known = [state for state in states if state is not None]
    if not known:  # /proc unreadable, or the process vanished just now
        return Path(f"/proc/{pid}").exists()
    return any(state not in ("Z", "X") for state in known)


def pid_from(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def lock_holders(lock: Path) -> list[int]:
    """PIDs holding a lock on `lock`, from /proc/locks (empty if none, or if they cannot be named)."""
    try:
        st = lock.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return []
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = []
    for line in table.splitlines():
        fields = line.split()  # "1: POSIX  ADVISORY  WRITE 4993 fe:00:5414946 0 EOF"; waiters have "->"
        if len(fields) >= 6 and fields[1] != "->" and fields[5] == inode and fields[4].isdigit():
            holders.append(int(fields[4]))
    return sorted(set(holders))


def locked(lock: Path) -> bool:
    """Whether a live process holds `lock` (OpenSearch takes it with fcntl, as lockf does)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EAGAIN)
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def data_in_use(data: Path) -> list[tuple[Path, list[int]]]:
    """The node locks under OpenSearch's data folder that a live process holds, with its pids.

    A node.lock left behind by a crash (kill -9, OOM killer, power off) is not held by anyone: the
    kernel drops the lock with the process, and the next node takes it again. Only a live node on the
    same folder blocks a start ("failed to obtain node locks")."""
    return [(lock, lock_holders(lock)) for lock in sorted(data.glob("node_*/data/nodes/*/node.lock")) if locked(lock)]


def in_use_message(data: Path, in_use: list[tuple[Path, list[int]]]) -> str:
    pids = sorted({pid for _, holders in in_use for pid in holders})
    who = ", ".join(f"pid {pid} ({cmdline(pid)})" for pid in pids) or "a process that /proc/locks does not name"
    stop = f"`kill {' '.join(map(str, pids))}`" if pids else "stop it"
    return (
        f"OpenSearch's data folder {data} is in use by {who}: another OpenSearch node on this folder,"
        f" not the stack's own (a stack started with other FACEWATCH_PORT_* values, or its .run/pids"
        f" file was removed); {stop}, then start the stack again. Nothing was deleted"
    )
