"""The hosts of one multi-host run off a TPU pod, and a rehearsal of a pod on
this machine.

Off a TPU pod (GPU hosts), every host runs the same `ptjf run` with
gin/meshes/gpu_host.gin and T5X's GPU-cluster flags, which start JAX's
distributed runtime: `worker_args` is that command, the one `ptjf launch
--gpu_hosts` prints. `start` runs N of them here, each process a host of
XLA's CPU devices, JAX's collectives between them over gloo: the data x
model mesh, the per-host data, the checkpoints every host writes and a host
lost are then those of a pod.
"""

import contextlib
import os
import signal
import socket
import threading
import time
from typing import Iterator, Optional, Sequence

from ptjf import child
from ptjf import recipe

MESH = 'gin/meshes/gpu_host.gin'
DEVICES_PER_HOST = 2  # a data x model mesh with a model axis of 2
_CPU_DEVICES = '--xla_force_host_platform_device_count'


def host_flags(coordinator: str, count: int, index: int) -> list[str]:
  """T5X's flags that make this process host `index` of `count`."""
  return ['--multiprocess_gpu', f'--coordinator_address={coordinator}',
          f'--process_count={count}', f'--process_index={index}']


def worker_args(name: str, run_args: Sequence[str], coordinator: str,
                count: int, index: int) -> list[str]:
  """The arguments of host `index`'s `ptjf run`: `run_args` (the workdir
  and the bindings, the same on every host), the GPU hosts' mesh and its
  place in the run."""
  return ['run', name, *run_args, f'--gin_file={MESH}',
          *(f'--t5x_flag={f}' for f in host_flags(coordinator, count, index))]


def free_port() -> int:
  """A TCP port free now on this machine, for a local coordinator."""
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def local_coordinator() -> str:
  """JAX's coordinator for local hosts: this machine, a port free now."""
  return f'localhost:{free_port()}'


def host_env(devices: int = DEVICES_PER_HOST) -> dict[str, str]:
  """This process's environment for a local host of `devices` CPU devices."""
  env = recipe.cpu_env()
  kept = [f for f in env.get('XLA_FLAGS', '').split()
          if not f.startswith(_CPU_DEVICES)]
  env['XLA_FLAGS'] = ' '.join([*kept, f'{_CPU_DEVICES}={devices}'])
  return env


class Host:
  """One started host: its index, its ended child once `wait` returns, its
  output lines and when it exited (time.time())."""

  def __init__(self, index: int, process: child.Child, echo: bool):
    self.index, self.process, self.lines = index, process, []
    self.ended_at: Optional[float] = None
    self._reader = threading.Thread(target=self._read, args=(echo,),
                                    daemon=True)
    self._reader.start()

  def _read(self, echo: bool) -> None:
    for line in self.process.lines():
      self.lines.append(line)
      if echo:
        print(f'host {self.index} | {line}', end='' if line.endswith('\n')
              else '\n', flush=True)
    self.ended_at = time.time()

  def wait(self) -> None:
    self._reader.join()

  @property
  def output(self) -> str:
    return ''.join(self.lines)


@contextlib.contextmanager
def start(name: str, run_args: Sequence[str], count: int,
          log_dir: str, devices: int = DEVICES_PER_HOST, echo: bool = False,
          coordinator: Optional[str] = None) -> Iterator[list[Host]]:
  """Starts `count` local hosts of `devices` CPU devices each, every one a
  `ptjf run NAME RUN_ARGS` as `worker_args` makes it, with `coordinator`
  (default: local_coordinator()), its output in LOG_DIR/host_I.out; inside,
  the hosts run (`echo` prints their lines, each led by its host). SIGTERM
  and SIGINT stop every host; every host has ended when the block is left,
  stopped first if the block raised."""
  coordinator = coordinator or local_coordinator()
  env = host_env(devices)
  with contextlib.ExitStack() as stack:
    hosts = []
    os.makedirs(log_dir, exist_ok=True)
    for i in range(count):
      process = stack.enter_context(child.started(
          child.ptjf_command(worker_args(name, run_args, coordinator, count, i)),
          os.path.join(log_dir, f'host_{i}.out'), env=env))
      hosts.append(Host(i, process, echo))
    stack.enter_context(_stopping_all(hosts))
    try:
      yield hosts
    except BaseException:
      for host in hosts:
        host.process.stop()
      raise
    finally:
      for host in hosts:  # their output read before child.started reads the rest
        host.wait()


@contextlib.contextmanager
def _stopping_all(hosts: Sequence[Host]) -> Iterator[None]:
  """While inside, SIGTERM and SIGINT stop every host, not only the last
  started (child.started passes a signal on to its own child)."""

  def forward(signum, _):
    for host in hosts:
      host.process.signals.append(signum)
      host.process.stop()

  previous = {s: signal.signal(s, forward) for s in child.PASSED_ON}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
