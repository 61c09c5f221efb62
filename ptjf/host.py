"""The devices t5x.train will find on this host, and the mesh a parsed recipe
needs of them: what `ptjf run` and `ptjf check` hold against each other
before any compute.

The devices are found without opening the accelerator, which only one
process at a time may hold (t5x.train's): from JAX_PLATFORMS, the device
files of TPUs and GPUs, the TPU VM's accelerator type (its metadata server),
CUDA_VISIBLE_DEVICES, XLA's host device count, and T5X's --process_count.
"""

import dataclasses
import glob
import math
import os
import re
import urllib.request
from typing import Optional, Sequence

from ptjf import recipe
from ptjf import settings
from ptjf import tpu

# Where a TPU VM names its slice (cloud.google.com/compute/docs/metadata).
_METADATA = ('http://metadata.google.internal/computeMetadata/v1/instance/'
             'attributes/accelerator-type')
_CPU_DEVICES = re.compile(r'--xla_force_host_platform_device_count=(\d+)')
# T5X's run files pass the partitioner and the trainer to train().
_PARTITIONER = 'train_script.train.partitioner'
_TRAIN_DATA = 'train_script.train.train_dataset_cfg'


@dataclasses.dataclass(frozen=True)
class Devices:
  """What t5x.train's JAX will run on, over every process of the run.

  Attributes:
    platform: 'tpu', 'gpu' or 'cpu'.
    count: devices of every process together.
    slice: the TPU VM's slice, when known.
  """
  platform: str
  count: int
  slice: Optional[tpu.Slice] = None

  @property
  def accelerated(self) -> bool:
    return self.platform != 'cpu'

  def __str__(self) -> str:
    where = f' (a {self.slice.name} slice)' if self.slice else ''
    return f'{self.count} {self.platform} device{"s" * (self.count != 1)}{where}'


@dataclasses.dataclass(frozen=True)
class MeshNeed:
  """What a parsed recipe's train step asks of the devices.

  Attributes:
    model: devices per model replica (the mesh's model axis).
    submesh: T5X's model_parallel_submesh, a block of TPU chips, if set.
    batch: BATCH_SIZE, split over the data axis.
    microbatches: the trainer's num_microbatches, each split over it too.
  """
  model: int
  submesh: Optional[tuple[int, ...]]
  batch: int
  microbatches: int

  @property
  def source(self) -> str:
    if self.submesh:
      return f'MODEL_PARALLEL_SUBMESH {self.submesh}'
    return f'num_partitions {self.model}'


def process_share(t5x_flags: Sequence[str]) -> tuple[int, int]:
  """(index, count) of this process among the run's: T5X's --process_index
  and --process_count, else TPU_WORKER_ID among TPU_WORKER_HOSTNAMES, else
  (0, 1), this process alone."""
  given = dict(f[2:].split('=', 1) for f in t5x_flags
               if f.startswith(('--process_index=', '--process_count=')))
  if 'process_count' in given:
    return int(given.get('process_index', 0)), int(given['process_count'])
  if 'TPU_WORKER_ID' in os.environ and os.environ.get('TPU_WORKER_HOSTNAMES'):
    return (int(os.environ['TPU_WORKER_ID']),
            len(os.environ['TPU_WORKER_HOSTNAMES'].split(',')))
  return 0, 1


def _platform() -> str:
  """The platform JAX picks in t5x.train: JAX_PLATFORMS, else the first
  accelerator whose device files exist (TPU v4: accel; v5e, v6e: vfio)."""
  if chosen := os.environ.get('JAX_PLATFORMS', '').split(',')[0].strip():
    return {'cuda': 'gpu', 'rocm': 'gpu'}.get(chosen, chosen)
  if glob.glob('/dev/accel[0-9]*') or glob.glob('/dev/vfio/[0-9]*'):
    return 'tpu'
  return 'gpu' if glob.glob('/dev/nvidia[0-9]*') else 'cpu'


def tpu_slice() -> Optional[tpu.Slice]:
  """The TPU VM's slice: TPU_ACCELERATOR_TYPE, as libtpu reads it, else the
  VM's metadata; None when neither says, or names a slice unknown here."""
  name = os.environ.get('TPU_ACCELERATOR_TYPE', '')
  if not name:
    request = urllib.request.Request(_METADATA,
                                     headers={'Metadata-Flavor': 'Google'})
    try:
      with urllib.request.urlopen(request, timeout=2) as answer:
        name = answer.read().decode().strip()
    except OSError:
      return None
  try:
    return tpu.parse(name)
  except ValueError:
    return None


def found(t5x_flags: Sequence[str] = ()) -> Devices:
  """The devices t5x.train will see with `t5x_flags`, over every process."""
  platform = _platform()
  processes = process_share(t5x_flags)[1]
  if platform == 'tpu':
    if where := tpu_slice():
      return Devices('tpu', where.chips, where)
    local = len(glob.glob('/dev/accel[0-9]*') or glob.glob('/dev/vfio/[0-9]*'))
    return Devices('tpu', local * processes)
  if platform == 'gpu':
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    local = (len([d for d in visible.split(',') if d.strip()]) if visible
             is not None else len(glob.glob('/dev/nvidia[0-9]*')))
    return Devices('gpu', local * processes)
  local = max(int(n) for n in [
      *_CPU_DEVICES.findall(os.environ.get('XLA_FLAGS', '')),
      os.environ.get('JAX_NUM_CPU_DEVICES') or 1])
  return Devices(platform, local * processes)


def mesh_need() -> MeshNeed:
  """What the parsed config's partitioner and batch ask of the devices."""
  partitioner = recipe.value(_PARTITIONER)
  submesh = getattr(partitioner, '_model_parallel_submesh', None)
  model = (math.prod(submesh) if submesh else
           getattr(partitioner, '_num_partitions', None) or 1)
  try:
    microbatches = recipe.value(settings.MICROBATCHES) or 1
  except ValueError:  # not bound: T5X's default, None
    microbatches = 1
  return MeshNeed(model, tuple(submesh) if submesh else None,
                  recipe.value(_TRAIN_DATA).batch_size, microbatches)


def mismatch(need: MeshNeed, devices: Devices, experiment: str) -> str:
  """'' when `devices` can hold the mesh and batch `need` asks for, else
  what does not fit and what to do, in one sentence."""
  elsewhere = (f'run it where the mesh fits, or compile it for a slice here '
               f'with `ptjf compile {experiment} --topology=SLICE` (e.g. '
               'v4-256), which needs no TPU')
  if need.submesh and devices.platform != 'tpu':
    return (f'this host has {devices}; the mesh needs a block of '
            f'{need.model} TPU chips per model replica ({need.source}): '
            f'{elsewhere}')
  if devices.count % need.model:
    return (f'this host has {devices}; the mesh needs a multiple of '
            f'{need.model} ({need.source}): {elsewhere}')
  return split_problem(need, devices.count // need.model, str(devices))


def split_problem(need: MeshNeed, data: int, where: str) -> str:
  """'' when BATCH_SIZE, and each microbatch, splits evenly over a data axis
  of `data` on `where`, else what to bind instead. (That the microbatches
  divide the batch, whatever the devices, is ptjf.settings'.)"""
  shards = need.microbatches * data
  if not need.batch % shards:
    return ''
  split = (f'each of {need.microbatches} microbatches'
           if need.microbatches > 1 else 'the batch')
  return (f'BATCH_SIZE {need.batch} does not split over the data axis: '
          f'{where} with {need.model} per model replica make a data axis of '
          f'{data}, which must divide {split}: bind a multiple of {shards}, '
          f"e.g. --gin='BATCH_SIZE = {max(need.batch // shards, 1) * shards}'")
