"""Cloud TPU slices by the names `gcloud --accelerator-type` takes, as libtpu's
topology descriptions, with each chip's memory, peak bf16 FLOP/s and the VM
image (TPU software version) to create it with.

A hand-written table: JAX and libtpu take topology shapes ('v4:4x4x8'), not
the slice names users give gcloud ('v4-256'), and no package maps one to the
other.
"""

import dataclasses
import itertools
import math
import os
from typing import Any, Optional, Sequence

GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Chip:
  """One TPU generation.

  Attributes:
    libtpu_name: the prefix of libtpu's topology names ('v5' is v5p).
    chip_config: 'megacore' (one device per chip) or 'default'.
    cores_per_chip_in_name: v4 and v5p slice names count TensorCores, two a chip.
    hbm_bytes: HBM per chip.
    usable_bytes: what the TPU compiler lets one program use of it (its own
      "available HBM" figure, read from this libtpu).
    peak_flops: peak bf16 FLOP/s per chip (Cloud TPU's published figure).
    shapes: chips -> the slice's shape (2-D or 3-D torus), Cloud TPU's defaults.
    gcloud_name: the generation as gcloud's accelerator types spell it.
    runtime_version: the TPU software version (VM image) for JAX on it
      (Cloud TPU's "TPU software versions").
    queued: its capacity is obtained through queued resources.
  """
  libtpu_name: str
  chip_config: str
  cores_per_chip_in_name: int
  hbm_bytes: int
  usable_bytes: int
  peak_flops: float
  shapes: dict[int, tuple[int, ...]]
  gcloud_name: str
  runtime_version: str
  queued: bool


_SHAPES_3D = {4: (2, 2, 1), 8: (2, 2, 2), 16: (2, 2, 4), 32: (2, 4, 4),
              64: (4, 4, 4), 128: (4, 4, 8), 192: (4, 4, 12), 256: (4, 8, 8),
              512: (8, 8, 8), 768: (8, 8, 12), 1024: (8, 8, 16),
              2048: (8, 16, 16)}
_SHAPES_2D = {1: (1, 1), 4: (2, 2), 8: (2, 4), 16: (4, 4), 32: (4, 8),
              64: (8, 8), 128: (8, 16), 256: (16, 16)}

CHIPS = {
    'v4': Chip('v4', 'megacore', 2, 32 * GIB, int(30.75 * GIB), 275e12,
               _SHAPES_3D, gcloud_name='v4',
               runtime_version='tpu-ubuntu2204-base', queued=False),
    'v5p': Chip('v5', 'megacore', 2, 95 * GIB, int(95.74 * GIB), 459e12,
                _SHAPES_3D, gcloud_name='v5p',
                runtime_version='v2-alpha-tpuv5', queued=True),
    'v5e': Chip('v5e', 'default', 1, 16 * GIB, int(15.75 * GIB), 197e12,
                _SHAPES_2D, gcloud_name='v5litepod',
                runtime_version='v2-alpha-tpuv5-lite', queued=True),
    'v6e': Chip('v6e', 'default', 1, 32 * GIB, int(31.25 * GIB), 918e12,
                _SHAPES_2D, gcloud_name='v6e',
                runtime_version='v2-alpha-tpuv6e', queued=True),
}
# gcloud's generation names that differ from ours ('v5litepod' is v5e).
ALIASES = {chip.gcloud_name: generation for generation, chip in CHIPS.items()
           if chip.gcloud_name != generation}


@dataclasses.dataclass(frozen=True)
class Slice:
  name: str  # as given, e.g. 'v4-256'
  chip: Chip
  shape: tuple[int, ...]

  @property
  def chips(self) -> int:
    n = 1
    for extent in self.shape:
      n *= extent
    return n

  @property
  def accelerator_type(self) -> str:
    """The slice as gcloud's --accelerator-type names it, e.g. 'v5litepod-256'."""
    return (f'{self.chip.gcloud_name}-'
            f'{self.chips * self.chip.cores_per_chip_in_name}')

  @property
  def topology_name(self) -> str:
    return f"{self.chip.libtpu_name}:{'x'.join(map(str, self.shape))}"

  @property
  def chips_per_host_bounds(self) -> tuple[int, int, int]:
    """Four chips a host (2 x 2), except single-host 8-chip v5e/v6e slices."""
    if len(self.shape) == 2 and self.chips <= 8:
      return (*self.shape, 1)
    return (2, 2, 1)

  def devices(self) -> list:
    """libtpu's description of the slice's devices; no TPU needed."""
    # Quiet libtpu's host look-ups, and keep it from writing /tmp/tpu_logs.
    os.environ.setdefault('TPU_SKIP_MDS_QUERY', '1')
    os.environ.setdefault('TPU_LOG_DIR', 'disabled')
    os.environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
    os.environ.setdefault('TPU_ACCELERATOR_TYPE', self.name)
    os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
    from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
    return list(topologies.get_topology_desc(
        platform='tpu', topology_name=self.topology_name,
        chip_config_name=self.chip.chip_config,
        chips_per_host_bounds=self.chips_per_host_bounds,
        num_slices=1).devices)


def names() -> list[str]:
  """Every slice name this module knows, e.g. 'v4-8', 'v5e-256'."""
  return [f'{g}-{n * chip.cores_per_chip_in_name}'
          for g, chip in CHIPS.items() for n in chip.shapes]


def parse(name: str) -> Slice:
  """The slice 'v4-256' (or 'v5litepod-16') names; ValueError otherwise."""
  generation, _, count = name.partition('-')
  generation = ALIASES.get(generation, generation)
  chip = CHIPS.get(generation)
  cores = int(count) if count.isdigit() else 0
  chips = cores // chip.cores_per_chip_in_name if chip else 0
  if not chip or chips not in chip.shapes or cores % chip.cores_per_chip_in_name:
    raise ValueError(f'unknown TPU slice {name!r}: give one of '
                     f'{", ".join(names())} (v5litepod-N is v5e-N).')
  return Slice(name, chip, chip.shapes[chips])


def mesh_bounds(devices: Sequence[Any]) -> tuple[int, int, int, int]:
  """The devices' (x, y, z, core) extents, the mesh T5X tiles with its
  model-parallel submesh."""
  coords = [(*d.coords, d.core_on_chip) for d in devices]
  return tuple(max(c[i] for c in coords) + 1 for i in range(4))


def tiling_submesh(devices: Sequence[Any], submesh: tuple[int, ...]
                   ) -> Optional[tuple[int, ...]]:
  """`submesh` if it tiles the devices' mesh, else the squarest block of as
  many devices that does (a 2-D slice has z = 1: (1, 1, 8, 1) becomes
  (2, 4, 1, 1)), else None."""
  bounds = mesh_bounds(devices)
  tiles = lambda block: all(b % s == 0 for b, s in zip(bounds, block))
  if tiles(submesh):
    return submesh
  size = math.prod(submesh)
  blocks = [b for b in itertools.product(
      *(range(1, n + 1) for n in bounds)) if math.prod(b) == size and tiles(b)]
  return min(blocks, key=lambda b: (max(b), b), default=None)
