"""`python -m scrapy …` for the tests, without paying Python's start-up and Scrapy's imports every time.

A crawl test runs the real `scrapy crawl` in a process of its own, and most of such a process's CPU
(about 1.2 s) went on importing Scrapy, Twisted, lxml and the project before the first request. Here
one helper process per pytest worker (the fork server, `python -m tests.forkserver`) imports all that
once, and for each crawl forks a child that becomes `python -m scrapy ARGS`: the command's own argv
(`sys.argv`), working directory, environment and standard streams, then Scrapy's `__main__` run as
`python -m` runs it, and the interpreter's own exit (exit code, traceback, atexit). The child installs
its own Twisted reactor, as a fresh process does: the server never imports one.

`ScrapyPopen` is `subprocess.Popen` with the fork server in place of fork+exec, so a test reads the
same `returncode`, pipes, `communicate(timeout=…)`, `send_signal` and `kill` as before: the child is
a real process with its own pid (signals go to it straight), and its exit status is relayed by the
server, which leaves it a zombie until the test has read the status (as `waitpid` would), so the pid
cannot be reused while the test might still signal it.

The server is forked from, not the pytest worker: the worker runs fixture servers in threads, and a
fork of a process with threads may copy a lock held by another thread. The server is single-threaded
(checked before each fork) and never runs a crawl itself, so every child starts from the same state.
Only commands of the form `[sys.executable, "-m", "scrapy", …]` are taken, with the same PYTHON* and
locale variables as the server's own (they act when Python starts, which the child does not do again;
so too the seed of str hashing, which is the server's in all its children, random per session).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_MESSAGE = 1 << 20  # a request (argv, cwd, environment) is far smaller


def _python_variables(env: dict[str, str]) -> dict[str, str]:
    """The variables Python reads when it starts (PYTHON*, and the locale for its standard streams'
    encoding): a child, which does not start again, has the server's."""
    return {name: value for name, value in env.items() if name.startswith(("PYTHON", "LC_", "LANG"))}


# --- the client side: in the pytest worker ------------------------------------------------------------


class _Server:
    """The worker's fork server, started on its first crawl; it exits when the worker does (it reads the
    end of its control socket)."""

    _lock = threading.Lock()
    _control: socket.socket | None = None

    @classmethod
    def control(cls) -> socket.socket:
        with cls._lock:
            if cls._control is None:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                server = subprocess.Popen(
                    [sys.executable, "-m", "tests.forkserver", str(theirs.fileno())],
                    cwd=REPO,
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                )
                theirs.close()
                cls._control = ours
                atexit.register(cls._stop, server)
            return cls._control

    @classmethod
    def _stop(cls, server: subprocess.Popen) -> None:
        """Hang up and wait for the server (so that its CPU time counts in the worker's, for `time`)."""
        if cls._control is not None:
            cls._control.close()
        server.wait(timeout=30)


class ScrapyPopen(subprocess.Popen):
    """`subprocess.Popen([sys.executable, "-m", "scrapy", …], …)`, the child forked by the fork server.

    Only the process's creation and the reading of its exit status differ from Popen's (the status comes
    from the server, whose child it is); pipes, text mode, timeouts, `communicate`, signals and the
    context manager are Popen's own."""

    _status: socket.socket | None = None

    def _execute_child(  # noqa: PLR0913 (Popen's own signature)
        self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo, creationflags, shell,
        p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, restore_signals,
        gid, gids, uid, umask, start_new_session, process_group,
    ) -> None:  # fmt: skip
        args = [os.fsdecode(arg) for arg in args]
        if args[:3] != [sys.executable, "-m", "scrapy"]:
            raise ValueError(f"the fork server runs `{sys.executable} -m scrapy …` only, not {args[:3]}")
        unusual = {
            "executable": executable, "preexec_fn": preexec_fn, "pass_fds": pass_fds, "shell": shell,
            "gid": gid, "gids": gids, "uid": uid, "start_new_session": start_new_session,
        }  # fmt: skip
        if any(unusual.values()) or umask >= 0 or process_group not in (-1, None):
            raise ValueError(f"the fork server does not take {[name for name, v in unusual.items() if v]}")
        environment = dict(os.environ if env is None else env)
        request = {"argv": args, "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(), "env": environment}
        # The child's standard streams: the pipes Popen made, or (None) the worker's own, as a child inherits.
        streams = [
            p2cread if p2cread != -1 else 0,
            c2pwrite if c2pwrite != -1 else 1,
            errwrite if errwrite != -1 else 2,
        ]
        status, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            socket.send_fds(_Server.control(), [json.dumps(request).encode()], [*streams, theirs.fileno()])
        finally:
            theirs.close()
        answer = status.recv(_MESSAGE)
        if not answer:
            status.close()
            raise RuntimeError("the fork server hung up (its own error is in the test's output)")
        started = json.loads(answer)
        if "error" in started:
            status.close()
            raise ValueError(started["error"])
        self.pid = started["pid"]
        self._child_created = True
        self._status = status
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _try_wait(self, wait_flags):
        """(pid, wait status) once the server has said the child exited; (0, 0) before, with WNOHANG."""
        status = self._status
        if wait_flags & os.WNOHANG:
            status.setblocking(False)
        try:
            message = status.recv(_MESSAGE)
        except BlockingIOError:
            return (0, 0)
        finally:
            status.setblocking(True)
        if not message:
            raise RuntimeError(f"the fork server hung up before crawl {self.pid} exited")
        status.close()  # the server reaps the child now
        return (self.pid, json.loads(message)["status"])

    def _internal_poll(self, _deadstate=None, _WNOHANG=os.WNOHANG):
        # Popen's poll, with _try_wait in place of os.waitpid (this runs from __del__ too: locals only).
        if self.returncode is None:
            if not self._waitpid_lock.acquire(False):
                return None
            try:
                if self.returncode is None:
                    pid, sts = self._try_wait(_WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(sts)
            except (OSError, RuntimeError, ValueError):
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode


def run_scrapy(command: list[str], *, env=None, timeout: float | None = 120) -> subprocess.CompletedProcess:
    """`subprocess.run(command, cwd=REPO, capture_output=True, text=True, …)` through the fork server (on a
    timeout the child is killed, and TimeoutExpired raised, as subprocess.run does)."""
    with ScrapyPopen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# --- the server side: `python -m tests.forkserver FD` --------------------------------------------------


def _preload() -> None:
    """Import what a crawl imports, short of a Twisted reactor: Scrapy's commands and its default
    components, and the project's settings, commands, spiders and their components (all named by dotted
    paths in the settings, which is how Scrapy itself loads them)."""
    import importlib
    import runpy  # noqa: F401 (the child runs Scrapy's __main__ with it)

    from scrapy.settings import Settings
    from scrapy.utils.misc import walk_modules_iter
    from scrapy.utils.project import get_project_settings

    importlib.import_module("scrapy.cmdline")
    importlib.import_module("scrapy.crawler")
    settings: Settings = get_project_settings()
    for commands in ("scrapy.commands", settings["COMMANDS_MODULE"]):
        list(walk_modules_iter(commands))
    for module in settings.getlist("SPIDER_MODULES"):
        list(walk_modules_iter(module))
    for value in settings.copy_to_dict().values():
        paths = [*value.keys(), *value.values()] if isinstance(value, dict) else [value]
        for path in paths:
            if isinstance(path, str) and path.count(".") >= 1 and " " not in path and "/" not in path:
                module = path.rsplit(".", 1)[0]
                try:
                    importlib.import_module(module)
                except ImportError:
                    pass  # a dotted string that names no module (a host name, a file name): not ours to load
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("preloading installed a Twisted reactor: each crawl must install its own")


class _Crawl:
    def __init__(self, pid: int, status: socket.socket) -> None:
        self.pid = pid
        self.status = status
        self.exited = False


def _serve(control: socket.socket) -> dict | None:
    """Fork a child per request until the worker hangs up (then None). In a child, the request it is to run."""
    python_variables = _python_variables(dict(os.environ))
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    os.set_blocking(woken, False)
    previous_wakeup = signal.set_wakeup_fd(wake)
    previous_sigchld = signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(woken, selectors.EVENT_READ)
    crawls: dict[int, _Crawl] = {}  # by pid: children not reaped yet

    def answer(crawl_status: socket.socket, message: dict) -> None:
        try:
            crawl_status.send(json.dumps(message).encode())
        except OSError:
            pass  # the test has gone; its child is killed below when its socket reads as closed

    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                try:
                    message, fds, _flags, _address = socket.recv_fds(control, _MESSAGE, 4)
                except ConnectionResetError:
                    message, fds = b"", []
                if not message:
                    return None
                status = socket.socket(fileno=fds[3])
                request = json.loads(message)
                if _python_variables(request["env"]) != python_variables:
                    refusal = "PYTHON* or locale variables differ from the fork server's: run it as a subprocess"
                    answer(status, {"error": refusal})
                    status.close()
                    for fd in fds[:3]:
                        os.close(fd)
                    continue
                if threading.active_count() != 1:
                    raise RuntimeError("the fork server has a thread: it must not fork")
                pid = os.fork()
                if pid == 0:
                    # The child: drop the server's state, take the request's streams, and return it.
                    gc.enable()
                    signal.set_wakeup_fd(previous_wakeup)
                    signal.signal(signal.SIGCHLD, previous_sigchld)
                    selector.close()
                    control.close()
                    for crawl in crawls.values():
                        crawl.status.close()
                    status.close()
                    os.close(woken)
                    os.close(wake)
                    for target, fd in enumerate(fds[:3]):
                        os.dup2(fd, target)
                    for fd in set(fds[:3]) - {0, 1, 2}:
                        os.close(fd)
                    return request
                for fd in fds[:3]:
                    os.close(fd)
                crawls[pid] = _Crawl(pid, status)
                selector.register(status, selectors.EVENT_READ, pid)
                answer(status, {"pid": pid})
            elif key.fileobj == woken:
                while True:
                    try:
                        if not os.read(woken, 4096):
                            break
                    except BlockingIOError:
                        break
                for crawl in list(crawls.values()):
                    if crawl.exited:
                        continue
                    # WNOWAIT: the child stays a zombie (its pid taken) until the test has read why it exited.
                    info = os.waitid(os.P_PID, crawl.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                    if info is None:
                        continue
                    crawl.exited = True
                    killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
                    wait_status = info.si_status if killed else info.si_status << 8
                    answer(crawl.status, {"status": wait_status})
            else:
                # The test has read the exit status and closed its end, or gone away before the child
                # ended: reap it, or kill it first (a timeout's child must not outlive its test).
                crawl = crawls[key.data]
                try:
                    leftover = crawl.status.recv(16)
                except OSError:
                    leftover = b""
                if leftover:
                    continue
                if not crawl.exited:
                    _kill(crawl.pid)
                _reap(crawls, selector, crawl)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(crawls: dict[int, _Crawl], selector: selectors.BaseSelector, crawl: _Crawl) -> None:
    try:
        selector.unregister(crawl.status)
    except (KeyError, ValueError):
        pass
    crawl.status.close()
    os.waitpid(crawl.pid, 0)
    del crawls[crawl.pid]


def _become_scrapy(request: dict) -> None:
    """The rest of this process is `python -m scrapy ARGS` started in the request's directory."""
    import runpy

    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["cwd"]  # `python -m` puts the working directory first
    # Python buffers stdout by line on a terminal only, which the server's stdout may have been.
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    sys.argv = ["-m", *request["argv"][3:]]  # runpy replaces argv[0] with scrapy/__main__.py, as -m does
    runpy.run_module("scrapy", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    # Python's garbage collector would walk (and so write to, page by page) every object imported here in
    # each child's collections: frozen, they stay shared and unwalked (what `gc.freeze` is for).
    gc.disable()
    _preload()
    gc.freeze()
    _request = _serve(socket.socket(fileno=int(sys.argv[1])))
    if _request is not None:
        # A forked child: from here on, it runs and exits exactly as `python -m scrapy` would.
        _become_scrapy(_request)
