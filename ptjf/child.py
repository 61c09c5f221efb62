"""The child processes of ptjf (t5x.train, t5x.eval, `ptjf run` in a sweep,
gcloud in a launch): started in the repository, their output copied line by
line into a log between ptjf's launch and exit lines or left on the terminal,
SIGTERM and SIGINT passed on to them, and the exception they died of.

Stopping a ptjf command so never leaves its child running alone, and on
Linux neither does killing it, SIGKILL included: the kernel kills the child
when the ptjf process that started it dies.
"""

import collections
import contextlib
import ctypes
import datetime
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator, Mapping, NoReturn, Optional, Sequence
import warnings

from ptjf import recipe

# First and last lines of each log: when the child was launched (and how),
# and when it exited.
LAUNCH_LINE = re.compile(r'^ptjf: launched at ([\d.]+): (.*)$')
EXIT_LINE = re.compile(r'^ptjf: exited with (-?\d+) at ([\d.]+)$')
PASSED_ON = (signal.SIGTERM, signal.SIGINT)
TAIL_LINES = 25  # of a logged child's output, kept to show where it failed
# SIGKILL, which no child can catch or outlive; what it cuts short is safe:
# t5x.train removes half-written temporary checkpoints when it starts again.
DEATH_SIGNAL = signal.SIGKILL
_PR_SET_PDEATHSIG = 1  # prctl(2)
# The last line of a Python traceback: 'FileNotFoundError: ...', dotted or not.
_ERROR_LINE = re.compile(r'^(?:[A-Za-z_][\w.]*\.)?\w*(?:Error|Exception)\b:?')
# What asyncio prints as the interpreter shuts down after the real error.
_SHUTDOWN_NOISE = re.compile(r'Event loop is closed|CancelledError|Task was '
                             r'destroyed|was never awaited|Exception ignored in')


def root_error(lines: Sequence[str]) -> str:
  """The exception a Python child died of: the last 'SomeError: ...' line of
  its output that is not asyncio's noise at shutdown ('' when there is none)."""
  errors = [line.strip() for line in lines
            if _ERROR_LINE.match(line) and not _SHUTDOWN_NOISE.search(line)]
  return errors[-1][:300] if errors else ''


def ptjf_command(args: Sequence[str]) -> list[str]:
  """`ptjf ARGS` with this interpreter, as a child of a ptjf command."""
  return [sys.executable, '-m', 'ptjf.cli', *args]


def exit_status(returncode: int) -> str:
  """A child's exit status as ptjf says it: '1', or '-9, killed by SIGKILL'
  for one a signal ended."""
  if returncode < 0:
    return f'{returncode}, killed by {signal.Signals(-returncode).name}'
  return str(returncode)


def exit_stopped(message: str, signum: int) -> NoReturn:
  """Ends a command that a signal passed on to its child stopped: `message`
  on stderr, and exit status 128 + the signal's number, as a shell reports
  a process a signal ended."""
  print(f'error: {message}', file=sys.stderr, flush=True)
  sys.exit(128 + signum)


def log_path(log_dir: str, name: str, shared: bool = True) -> str:
  """A log file named after `name` and the time (UTC). In a directory
  `shared` by the hosts of a pod, no other child gets the name: it holds the
  host, microseconds keep the names of one host in launch order, and the pid
  tells apart children started at the same instant by two processes."""
  now = datetime.datetime.now(datetime.timezone.utc)
  if not shared:
    return os.path.join(log_dir, f'{name}.{now:%Y%m%d-%H%M%S}.log')
  return os.path.join(log_dir, f'{name}.{socket.gethostname()}.'
                      f'{now:%Y%m%d-%H%M%S.%f}.{os.getpid()}.log')


class Child:
  """A started child process. While it runs, `lines()` gives its output
  (when logged) and `stop()` terminates it; once it has ended, `returncode`,
  `signals` (those this process received and passed on, in order),
  `root_error` and `tail` (the end of its output, when logged) say how."""

  def __init__(self, process: subprocess.Popen, log=None):
    self._process = process
    self.signals: list[int] = []
    self.root_error = ''
    self._tail = collections.deque(maxlen=TAIL_LINES)
    self._lines = self._read(log) if log is not None else iter(())

  def _read(self, log) -> Iterator[str]:
    for text in self._process.stdout:
      log.write(text)
      self._tail.append(text)
      self.root_error = root_error([text]) or self.root_error  # it may scroll out of the tail
      yield text

  def lines(self) -> Iterator[str]:
    """The child's output lines, as they come (none when not logged)."""
    return self._lines

  @property
  def pid(self) -> int:
    return self._process.pid

  @property
  def running(self) -> bool:
    return self._process.poll() is None

  def stop(self) -> None:
    """Terminates the child (SIGTERM); it is still waited for."""
    if self.running:
      self._process.terminate()

  def kill(self) -> None:
    """Kills the child (SIGKILL), which nothing can stop."""
    if self.running:
      self._process.kill()

  @property
  def returncode(self) -> Optional[int]:
    return self._process.returncode

  @property
  def tail(self) -> str:
    return ''.join(self._tail)


def _dies_with(parent: int):
  """The function that, run in the child between fork and exec, has the
  kernel send it DEATH_SIGNAL when `parent` dies (Linux); None elsewhere.
  The signal follows the thread that forked: children are started by the
  main thread only (signal.signal in _passed_on works nowhere else), which
  lives as long as the process."""
  if not sys.platform.startswith('linux'):
    return None
  prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

  def set_death_signal() -> None:
    prctl(_PR_SET_PDEATHSIG, DEATH_SIGNAL)
    if os.getppid() != parent:  # the parent died before prctl: no signal comes
      os.kill(os.getpid(), DEATH_SIGNAL)

  return set_death_signal


@contextlib.contextmanager
def _passed_on(child: Child) -> Iterator[None]:
  """While inside, SIGTERM and SIGINT terminate the child instead of this
  process, which goes on to wait for it. Both become SIGTERM: t5x.train
  carries on after SIGINT, and `ptjf run` stops on either."""

  def forward(signum, _):
    child.signals.append(signum)
    child.stop()

  previous = {s: signal.signal(s, forward) for s in PASSED_ON}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


@contextlib.contextmanager
def started(command: Sequence[str], log_path: Optional[str] = None,
            cwd: Optional[str] = recipe.REPO,
            env: Optional[Mapping[str, str]] = None) -> Iterator[Child]:
  """Starts `command` in `cwd` (the repository unless given; None: this
  process's) with `env` (this process's unless given). With `log_path`, its
  output (stderr too) is copied line by line into that file (local or
  gs://) between LAUNCH_LINE and EXIT_LINE as `lines()` reads it; without,
  it writes to this process's terminal. SIGTERM and SIGINT are passed on to
  it inside the block; the child has ended when the block is left (stopped
  first if the block raised), and is killed if this process dies first."""
  with contextlib.ExitStack() as stack:
    log = None
    if log_path:
      # Slow to import, and only a log (maybe on gs://) needs it.
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      log = stack.enter_context(tf.io.gfile.GFile(log_path, 'w'))
    output = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                  text=True) if log_path else {}
    with warnings.catch_warnings():
      # JAX's warning at fork is for a child that goes on in Python; this
      # one only calls prctl(2) before exec.
      warnings.filterwarnings('ignore', r'os\.fork\(\) was called',
                              RuntimeWarning)
      process = stack.enter_context(subprocess.Popen(
          command, cwd=cwd, env=None if env is None else dict(env),
          preexec_fn=_dies_with(os.getpid()), **output))
    if log_path:
      log.write(f'ptjf: launched at {time.time():.3f}: {shlex.join(command)}\n')
    child = Child(process, log)
    stack.enter_context(_passed_on(child))
    try:
      yield child
    except BaseException:
      child.stop()
      raise
    finally:
      for _ in child.lines():  # what the block left unread goes to the log
        pass
      process.wait()
    if log_path:
      log.write(f'ptjf: exited with {process.returncode} at {time.time():.3f}\n')


def run(command: Sequence[str], log_path: Optional[str] = None,
        cwd: Optional[str] = recipe.REPO,
        env: Optional[Mapping[str, str]] = None) -> Child:
  """Runs `command` to its end as `started` does; the ended child."""
  with started(command, log_path, cwd, env) as child:
    pass
  return child
