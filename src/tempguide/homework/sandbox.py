"""Where the submission's code runs: the three isolation modes (README: "Trust model").

The grader starts ``worker.py`` as a separate process.  Before any submitted code
runs, the worker calls ``enter(config)``, which picks the strongest mode the
machine allows and reports it:

- ``"sandbox"`` (the grader runs as root and the kernel may create namespaces:
  CI, containers with CAP_SYS_ADMIN): new mount, PID, network, IPC and UTS
  namespaces; a private root file system holding only the system and Python
  directories, the installed packages, read-only, with the homework package and
  every secret path (solutions, the submission's folder, the report) covered by
  empty mounts; a fresh ``/tmp`` and the submission's temporary folder; then the
  user ``nobody``, no new privileges, resource limits.  The kernel cannot read
  the answer keys, cannot write to the package, cannot see or signal the grader,
  has no network, and every process it forks dies with it.
- ``"unprivileged"`` (root, but namespaces are refused): the user ``nobody`` in
  the temporary folder with the same limits.  It cannot write to the package or
  signal the grader, but can read world-readable files; the worker reports which
  secret paths it can read, and the grader lists them as errors
  (``chmod o-rwx`` them).
- ``"same-user"`` (not root): the kernel runs as the grader's user in the
  temporary folder with the limits.  Fine for students checking their own work;
  **not for credit**: it can read and write what that user can.

Standard library only (it runs before anything else in the worker).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal

NOBODY = 65534
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (0x20000, 0x04000000, 0x08000000,
                                                                      0x20000000, 0x40000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 1, 38, 4
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _mount(source, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {source or fstype} on {target}")


def set_limits(memory_mb: int | None, cpu_seconds: int | None, nproc: int | None) -> None:
    """Address space, CPU time, file size (256 MB), process count (as nobody) and no core dumps."""
    if memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20,) * 2)
    if cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges() -> None:
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _inside(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _bind_read_only(source: str, target: str) -> None:
    os.makedirs(target, exist_ok=True)
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _hide(target: str) -> None:
    """An empty read-only directory (or /dev/null for a file) over ``target``."""
    if os.path.isdir(target):
        _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
    elif os.path.exists(target):
        _mount("/dev/null", target, None, MS_BIND)


def _build_root(root: str, work: str, readable: list[str], secrets: list[str]) -> None:
    """The private root file system at ``root`` (see module docstring)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # A fresh /tmp and /dev first: a checkout or a venv under /tmp is then bound on top of them.
    for name, mode, size in (("tmp", "1777", "256m"), ("dev", "755", "64k")):
        os.makedirs(f"{root}/{name}", exist_ok=True)
        _mount("tmpfs", f"{root}/{name}", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}")
    bound: list[str] = []
    for path in sorted({os.path.realpath(p) for p in readable if os.path.exists(p)} |
                       {p for p in SYSTEM_DIRS if os.path.lexists(p)}, key=len):
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems
            os.makedirs(root + os.path.dirname(path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path) and not _inside(path, bound):
            _bind_read_only(path, root + path)
            bound.append(path)
    for secret in {os.path.realpath(s) for s in secrets}:
        if _inside(secret, bound):
            _hide(root + secret)
    for device in DEVICES:
        open(f"{root}/dev/{device}", "w").close()
        _mount(f"/dev/{device}", f"{root}/dev/{device}", None, MS_BIND)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{fd}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    os.makedirs(f"{root}/proc", exist_ok=True)
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(f"{root}/submission", exist_ok=True)
    _mount(work, f"{root}/submission", None, MS_BIND)
    _mount(None, f"{root}/submission", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir("/submission")


def _supervise(child: int) -> None:
    """The process outside the new PID namespace: forward interrupts to its init, exit with its status."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def enter(config: dict, keep_fds: tuple[int, ...]) -> dict:
    """Isolate this process as far as the machine allows; ``{"mode", "notes"}`` describes what was done.

    ``config``: ``work`` (the temporary folder, already owned by nobody when root),
    ``root`` (an empty folder for the private root), ``readable`` (paths the kernel
    needs), ``secrets`` (paths it must not read), ``memory_mb``, ``cpu_seconds``.
    """
    notes: list[str] = []
    limits = (config.get("memory_mb"), config.get("cpu_seconds"))
    wanted = config.get("isolation", "auto")  # "auto", or a weaker mode forced for tests
    if os.geteuid() != 0 or wanted == "same-user":
        os.chdir(config["work"])
        set_limits(*limits, None)
        why = "the grader is not root" if os.geteuid() != 0 else "same-user mode was requested"
        return {"mode": "same-user", "notes": [f"{why}: the kernel runs as the grader's user and can read and "
                                               "write what it can (not for credit)"]}
    try:
        if wanted == "unprivileged":
            raise OSError(0, "unprivileged mode was requested")
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    except OSError as e:
        notes.append(f"no namespaces ({e.strerror}): the kernel runs as nobody without a private file system")
        os.chdir(config["work"])
        set_limits(*limits, 512)
        needed = [p for p in config["readable"] if os.path.exists(p)]  # as root, before the check as nobody
        _drop_privileges()
        readable = [s for s in config["secrets"] if os.path.exists(s) and os.access(s, os.R_OK)]
        notes += [f"the kernel can read {s} (make it unreadable to others: chmod -R o-rwx)" for s in readable]
        blocked = [p for p in needed if not os.access(p, os.R_OK | os.X_OK)]
        if blocked:
            return {"mode": "unprivileged", "notes": notes,
                    "fatal": f"as nobody the kernel cannot read {blocked[0]} (Python or the packages are in a private "
                             "folder): install them where others can read them, or grade where namespaces work"}
        return {"mode": "unprivileged", "notes": notes}
    child = os.fork()  # the child is PID 1 of the new namespace; the parent only forwards signals
    if child:
        for fd in keep_fds:
            os.close(fd)
        _supervise(child)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _build_root(config["root"], config["work"], config["readable"], config["secrets"])
    set_limits(*limits, 512)
    _drop_privileges()
    leaked = [s for s in config["secrets"] if os.path.exists(s) and os.access(s, os.R_OK)
              and (not os.path.isdir(s) or os.listdir(s))]
    notes += [f"the kernel can read {s}" for s in leaked]
    return {"mode": "sandbox", "notes": notes}

