"""One `ptjf run` per --workdir at a time: a lock file in the workdir.

The lock names the run that holds it by an identity that every process of one
multi-host run shares and no other run has: T5X's --coordinator_address on GPU
hosts, the TPU's name on a Cloud TPU pod (its workers' hostnames are
`t1v-n-<id>-w-<N>`), else this host and process. The workers of one run join
the lock; another run is refused while the lock is live. The lock also
records the t5x.train its holder started, by pid and start time (a pid is
reused). A lock is stale, and taken over, when both its process and that
trainer are gone from this host (or this host rebooted), or, for a lock from
another host, when its holder has not refreshed it for STALE_S seconds (a
killed pod cannot remove its lock). Taking over is one conditional write:
of several runs that try at once, one wins.
"""

import json
import os
import re
import socket
import threading
import time
from typing import Optional, Sequence

NAME = 'ptjf_run.lock'
REFRESH_S = 60
STALE_S = 600  # ten refreshes missed: its holder is gone
_TPU_WORKER = re.compile(r'^(t1v-n-[0-9a-f]+)-w-\d+$')
_BOOT_ID = '/proc/sys/kernel/random/boot_id'
_OS_REASON = re.compile(r': ([^:]+?) \[os_error_code')  # in tensorstore's errors
# What a lock record holds, each field's type: what ptjf run writes.
_FIELDS = {'identity': str, 'host': str, 'pid': int, 'seen': (int, float)}


class Busy(ValueError):
  """Another run holds the workdir; the message is one line."""


class Foreign(ValueError):
  """The lock file is not a lock ptjf run wrote; the message is one line."""


def identity(t5x_flags: Sequence[str] = (), host: Optional[str] = None,
             pid: Optional[int] = None) -> str:
  """What the processes of this run share with each other and with no other
  run."""
  for flag in t5x_flags:
    if flag.startswith('--coordinator_address='):
      return f'coordinator {flag.split("=", 1)[1]}'
  host = host or socket.gethostname()
  if m := _TPU_WORKER.match(host):
    return f'TPU {m.group(1)}'
  return f'{host} pid {pid or os.getpid()}'


def _boot_id() -> str:
  try:
    with open(_BOOT_ID) as f:
      return f.read().strip()
  except OSError:
    return ''


def _stat(pid: int) -> tuple[str, Optional[int]]:
  """The state of process `pid` and its start time in clock ticks since boot,
  from /proc ('' and None when unreadable)."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      fields = f.read().rsplit(')', 1)[1].split()  # after the command's name
    return fields[0], int(fields[19])
  except (OSError, IndexError, ValueError):
    return '', None


def process(pid: int) -> dict:
  """Process `pid` of this host as the lock records it: its pid and start
  time, which a later process given the same pid does not share."""
  return {'pid': pid, 'start': _stat(pid)[1]}


def alive(pid: int, start: Optional[int] = None) -> bool:
  """Whether process `pid` of this host runs (a zombie does not), and is the
  one that started at `start` when that is known."""
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass
  state, started = _stat(pid)
  return state != 'Z' and (None in (start, started) or start == started)


def _trainer_alive(holder: dict) -> bool:
  trainer = holder.get('trainer')
  return isinstance(trainer, dict) and alive(trainer.get('pid'),
                                             trainer.get('start'))


def stale(holder: dict, now: Optional[float] = None) -> bool:
  """Whether the run that wrote `holder` is gone, with its trainer."""
  if holder.get('host') == socket.gethostname():
    return holder.get('boot') != _boot_id() or not (
        alive(holder.get('pid', 0)) or _trainer_alive(holder))
  return (now or time.time()) - holder.get('seen', 0) > STALE_S


def parse(text: bytes, path: str) -> dict:
  """The record a lock file holds; raises Foreign, naming the file and how
  to remove it safely, when it is not one ptjf run wrote."""
  try:
    holder = json.loads(text)
    problem = '' if isinstance(holder, dict) else 'JSON, but not an object'
  except ValueError:
    holder, problem = None, 'empty' if not text.strip() else 'not JSON'
  if not problem and (wrong := [n for n, kind in _FIELDS.items()
                                if not isinstance(holder.get(n), kind)]):
    problem = f'its JSON lacks {", ".join(wrong)}'
  if problem:
    workdir = os.path.dirname(path)
    raise Foreign(f'{path} is not a lock ptjf run wrote ({problem}): check '
                  f'that no ptjf run or t5x.train uses {workdir} (`pgrep -af '
                  f'{workdir}` on each of its hosts lists none), then remove '
                  f'{path} and run again.')
  return holder


def describe(holder: dict) -> str:
  seen = time.time() - holder.get('seen', 0)
  return (f"ptjf run on {holder.get('host')} (pid {holder.get('pid')}, started "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.get('started', 0)))}, "
          f'last seen {max(0, round(seen))} s ago)')


class Lock:
  """The workdir's lock, held or joined by this process until release()."""

  def __init__(self, workdir: str, t5x_flags: Sequence[str] = ()):
    import tensorstore as ts  # pylint: disable=g-import-not-at-top
    # tensorstore writes conditionally on local disks and gs:// alike, so
    # exactly one of several racing runs creates the lock.
    self._store = ts.KvStore.open(
        workdir.rstrip('/') + '/' if '://' in workdir
        else 'file://' + os.path.abspath(workdir) + '/').result()
    self.path = os.path.join(workdir, NAME)
    now = time.time()
    self.record = {'identity': identity(t5x_flags), 'host': socket.gethostname(),
                   'pid': os.getpid(), 'boot': _boot_id(), 'started': now,
                   'seen': now}
    self.owner, self._stop = False, threading.Event()
    self._generation = b''  # tensorstore's stamp of our last write
    self._writing = threading.Lock()  # the refresh thread writes too

  def acquire(self) -> 'Lock':
    """Takes the lock, or joins it when this run's other processes hold it;
    raises Busy naming the live run that holds it."""
    for _ in range(5):  # another run may take or drop it between read and write
      found = self._store.read(NAME).result()
      if found.state == 'value' and not stale(
          holder := parse(found.value, self.path)):
        if holder.get('identity') == self.record['identity']:
          return self  # another process of this same run holds it
        raise Busy(self._busy(holder))
      if self._write(found.stamp.generation):  # absent or stale: take it
        self.owner = True
        threading.Thread(target=self._refresh, daemon=True).start()
        return self
    raise Busy(f'{self.path} keeps changing: another ptjf run is starting in '
               f'{os.path.dirname(self.path)}; run one at a time.')

  def _busy(self, holder: dict) -> str:
    workdir = os.path.dirname(self.path)
    if holder.get('host') == socket.gethostname() and not alive(
        holder['pid']) and _trainer_alive(holder):
      trainer = holder['trainer']['pid']
      return (f'{workdir} is in use by t5x.train (pid {trainer}), started by '
              f'{describe(holder)}, which is gone while its trainer still '
              f'runs: wait for it to end, or stop it (kill {trainer}), then '
              'run again to resume from its last checkpoint.')
    return (f'{workdir} is in use by {describe(holder)}; wait for it to end, '
            f'or if it is gone, remove {self.path}.')

  def _write(self, generation: bytes) -> bool:
    """Writes the record if the lock is still at `generation`; raises
    ValueError, in one line, when it cannot be written (tensorstore leaves
    no partial file behind)."""
    self.record['seen'] = time.time()
    try:
      stamp = self._store.write(NAME, json.dumps(self.record).encode(),
                                if_equal=generation).result()
    except ValueError as e:  # tensorstore's words end in the OS's reason
      reason = _OS_REASON.search(str(e))
      raise ValueError(
          f'{self.path} cannot be written '
          f'({reason.group(1) if reason else str(e).splitlines()[0][:200]}): '
          'give a --workdir on a file system with room, that this user can '
          'write.') from e
    self._generation = stamp.generation
    return bool(stamp.generation)  # empty when the condition failed

  def _rewrite(self) -> None:
    """Writes the record again over our own last write, if we still hold it
    (if it cannot be written now, the next refresh tries again)."""
    with self._writing:
      try:
        if self.owner and not self._write(self._generation):
          self.owner = False  # another run took it over as stale: it is theirs
      except ValueError:
        pass

  def trainer(self, pid: int) -> None:
    """Records the t5x.train that this run started, process `pid` of this
    host: the lock stays live while it runs, even if this process dies."""
    self.record['trainer'] = process(pid)
    self._rewrite()

  def _refresh(self) -> None:
    while self.owner and not self._stop.wait(REFRESH_S):
      self._rewrite()

  def release(self) -> None:
    """Removes the lock if this process wrote it and still holds it."""
    self._stop.set()
    with self._writing:
      if self.owner:
        self._store.write(NAME, None, if_equal=self._generation).result()
        self.owner = False

  def __enter__(self) -> 'Lock':
    return self.acquire()

  def __exit__(self, *unused) -> None:
    self.release()
