"""One `ptjf run` per --workdir at a time: a lock file in the workdir.

The lock names the run that holds it by an identity that every process of one
multi-host run shares and no other run has: T5X's --coordinator_address on GPU
hosts, the TPU's name on a Cloud TPU pod (its workers' hostnames are
`t1v-n-<id>-w-<N>`), else this host and process. The workers of one run join
the lock; another run is refused while the lock is live. A lock is stale, and
taken over, when its process is gone from this host (or this host rebooted),
or, for a lock from another host, when its holder has not refreshed it for
STALE_S seconds (a killed pod cannot remove its lock).
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


class Busy(ValueError):
  """Another run holds the workdir; the message is one line."""


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


def _alive(pid: int) -> bool:
  """Whether process `pid` of this host runs (a zombie does not)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except OSError:
    return True


def stale(holder: dict, now: Optional[float] = None) -> bool:
  """Whether the run that wrote `holder` is gone."""
  if holder.get('host') == socket.gethostname():
    return holder.get('boot') != _boot_id() or not _alive(holder.get('pid', 0))
  return (now or time.time()) - holder.get('seen', 0) > STALE_S


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

  def acquire(self) -> 'Lock':
    """Takes the lock, or joins it when this run's other processes hold it;
    raises Busy naming the live run that holds it."""
    for _ in range(5):  # another run may take or drop it between read and write
      found = self._store.read(NAME).result()
      if found.state == 'value' and not stale(holder := json.loads(found.value)):
        if holder.get('identity') == self.record['identity']:
          return self  # another process of this same run holds it
        raise Busy(f'{os.path.dirname(self.path)} is in use by '
                   f'{describe(holder)}; wait for it to end, or if it is '
                   f'gone, remove {self.path}.')
      if self._write(found.stamp.generation):  # absent or stale: take it
        self.owner = True
        threading.Thread(target=self._refresh, daemon=True).start()
        return self
    raise Busy(f'{self.path} keeps changing: another ptjf run is starting in '
               f'{os.path.dirname(self.path)}; run one at a time.')

  def _write(self, generation: bytes) -> bool:
    self.record['seen'] = time.time()
    stamp = self._store.write(NAME, json.dumps(self.record).encode(),
                              if_equal=generation).result()
    self._generation = stamp.generation
    return bool(stamp.generation)  # empty when the condition failed

  def _refresh(self) -> None:
    while not self._stop.wait(REFRESH_S):
      if not self._write(self._generation):
        self.owner = False  # another run took it over as stale: it is theirs
        return

  def release(self) -> None:
    """Removes the lock if this process wrote it and still holds it."""
    self._stop.set()
    if self.owner:
      self._store.write(NAME, None, if_equal=self._generation).result()
      self.owner = False

  def __enter__(self) -> 'Lock':
    return self.acquire()

  def __exit__(self, *unused) -> None:
    self.release()
