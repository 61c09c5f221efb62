"""Compiles a parsed recipe's T5X train step ahead of time for a TPU slice.

The step is T5X's own: the recipe's model, partitioner (its mesh built from
libtpu's description of the slice), Trainer and microbatches, and the batch
and feature lengths of its training DatasetConfig, all as abstract arrays: no
TPU is needed and no parameter is allocated.
"""

import contextlib
import dataclasses
import re
import time
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from ptjf import recipe
from ptjf import tpu

# The compiler's refusal: "... required for HLO temporaries (138.00G) exceeds
# available HBM (30.75G)".
_OUT_OF_MEMORY = re.compile(r'\(([\d.]+)([KMGT])\)\s*exceeds available HBM\s*'
                            r'\(([\d.]+)([KMGT])\)')
_UNIT = {'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}
MAX_MICROBATCHES = 64  # the search for a setting that fits stops here


class DoesNotFit(Exception):
  """The compiler refused the step for lack of HBM."""

  def __init__(self, needed: int, available: int, message: str):
    super().__init__(message)
    self.needed, self.available = needed, available


@dataclasses.dataclass
class Compiled:
  """What one compilation of the train step gives, per chip.

  Attributes:
    state_bytes: parameters and optimizer slots (the sharded train state).
    argument_bytes, temp_bytes, code_bytes, peak_bytes: the compiler's memory
      analysis (peak is the figure to hold against HBM).
    counted_flops: the compiler's cost analysis, which counts a loop body
      (scanned layers, the microbatch loop) once.
    seconds: lowering and compiling.
  """
  state_bytes: int
  argument_bytes: int
  temp_bytes: int
  code_bytes: int
  peak_bytes: int
  counted_flops: float
  seconds: float


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """What the parsed recipe configures for its train step."""
  batch_size: int
  feature_lengths: dict[str, int]
  num_microbatches: Optional[int]
  parameters: int
  encoder_layers: Optional[int]
  decoder_layers: Optional[int]
  scan_layers: bool
  remat_policy: Optional[str]

  @property
  def tokens(self) -> int:
    """Tokens per step: every sequence's inputs and targets."""
    return self.batch_size * sum(self.feature_lengths.values())

  @property
  def microbatches(self) -> int:
    return max(self.num_microbatches or 1, 1)


def _network_config():
  """The T5Config of the parsed MODEL's network, or None."""
  module = getattr(recipe.value('MODEL'), 'module', None)
  return getattr(module, 'config', None)


def step_config() -> StepConfig:
  """The train step the parsed recipe configures."""
  cfg = recipe.value('train_script.train.train_dataset_cfg')
  network = _network_config()
  shapes = recipe.parameter_shapes()
  return StepConfig(
      batch_size=cfg.batch_size,
      feature_lengths=dict(cfg.task_feature_lengths),
      num_microbatches=recipe.value('trainer.Trainer.num_microbatches'),
      parameters=int(sum(np.prod(s) for s in shapes.values())),
      encoder_layers=getattr(network, 'num_encoder_layers', None),
      decoder_layers=getattr(network, 'num_decoder_layers', None),
      scan_layers=bool(getattr(network, 'scan_layers', False)),
      remat_policy=getattr(network, 'remat_policy', None))


@contextlib.contextmanager
def _on_devices(devices: Sequence[Any]):
  """T5X asks jax.devices() for its mesh and skips sharding constraints on a
  CPU; while this holds, both see the slice's devices instead."""
  from t5x import partitioning  # pylint: disable=g-import-not-at-top
  saved = jax.devices, jax.local_devices, partitioning.with_sharding_constraint
  host0 = [d for d in devices if d.process_index == 0]

  def constrain(x, axis_resources):
    if not partitioning.global_mesh_defined():
      return x
    return jax.lax.with_sharding_constraint(x, axis_resources)

  jax.devices = lambda backend=None: list(devices)
  jax.local_devices = lambda process_index=None, backend=None, host_id=None: host0
  partitioning.with_sharding_constraint = constrain
  try:
    yield
  finally:
    jax.devices, jax.local_devices, partitioning.with_sharding_constraint = saved


def _abstract(shapes, axes, mesh):
  """ShapeDtypeStructs sharded over `mesh` as T5X's axes say."""
  def shard(spec, subtree):  # a None spec may stand for a whole subtree
    sharding = NamedSharding(mesh, spec or PartitionSpec())
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(
        s.shape, s.dtype, sharding=sharding), subtree)
  return jax.tree.map(shard, axes, shapes,
                      is_leaf=lambda x: x is None or isinstance(x, PartitionSpec))


def _bytes_per_chip(state) -> int:
  return sum(int(np.prod(leaf.sharding.shard_shape(leaf.shape))) * leaf.dtype.itemsize
             for leaf in jax.tree.leaves(state))


def _refusal(error: Exception) -> Optional[DoesNotFit]:
  text = str(error)
  if 'RESOURCE_EXHAUSTED' not in text and 'exceeds available HBM' not in text:
    return None
  match = _OUT_OF_MEMORY.search(text)
  needed, available = ((int(float(match.group(1)) * _UNIT[match.group(2)]),
                        int(float(match.group(3)) * _UNIT[match.group(4)]))
                       if match else (0, 0))
  return DoesNotFit(needed, available, text.strip().splitlines()[0])


def compile_step(devices: Sequence[Any]) -> Compiled:
  """Lowers and compiles the parsed recipe's train step for `devices`;
  raises DoesNotFit when the compiler finds too little HBM."""
  from t5x import utils  # pylint: disable=g-import-not-at-top
  start = time.time()
  model = recipe.value('MODEL')
  partitioner = recipe.value('train_script.train.partitioner')
  trainer_cls = recipe.value('train_script.train.trainer_cls')
  cfg = recipe.value('train_script.train.train_dataset_cfg')
  lengths = model.FEATURE_CONVERTER_CLS(pack=cfg.pack).get_model_feature_lengths(
      cfg.task_feature_lengths)
  with _on_devices(devices):
    mesh = partitioner.mesh  # T5X's own mesh for the slice, then cached
    initializer = utils.TrainStateInitializer(
        optimizer_def=model.optimizer_def, init_fn=model.get_initial_variables,
        input_shapes={k: (cfg.batch_size, n) for k, n in lengths.items()},
        input_types={k: np.int32 for k in lengths}, partitioner=partitioner)
    state = _abstract(initializer.global_train_state_shape,
                      initializer.train_state_axes, mesh)
    batch_sharding = NamedSharding(mesh, partitioner.data_partition_spec)
    batch = {k: jax.ShapeDtypeStruct((cfg.batch_size, n), np.int32,
                                     sharding=batch_sharding)
             for k, n in lengths.items()}
    trainer = trainer_cls(
        model=model, train_state=state, partitioner=partitioner, eval_names=[],
        summary_dir=None, train_state_axes=initializer.train_state_axes,
        rng=jax.random.PRNGKey(0))
    try:
      compiled = trainer._partitioned_train_step.lower(state, batch).compile()  # pylint: disable=protected-access
    except Exception as e:  # XLA raises its runtime error type for every refusal
      if refusal := _refusal(e):
        raise refusal from e
      raise
    finally:
      trainer.close()
  memory = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return Compiled(
      state_bytes=_bytes_per_chip(state),
      argument_bytes=memory.argument_size_in_bytes,
      temp_bytes=memory.temp_size_in_bytes,
      code_bytes=memory.generated_code_size_in_bytes,
      peak_bytes=memory.peak_memory_in_bytes,
      counted_flops=float(cost.get('flops', 0.0)),
      seconds=time.time() - start)


def _layer_bindings(encoder: int, decoder: int) -> list[str]:
  return ['network.T5Config.scan_layers = False',
          f'network.T5Config.num_encoder_layers = {encoder}',
          f'network.T5Config.num_decoder_layers = {decoder}']


def step_flops(parse: Callable[[Sequence[str]], None], devices: Sequence[Any],
               step: StepConfig, counted: float) -> float:
  """FLOPs per chip of one whole step; `parse(extra)` parses the recipe again
  with extra bindings.

  The cost analysis counts a loop body once. k microbatches are counted as k
  steps on one microbatch without them (which counts the optimizer's update k
  times, a negligible share of a step but for toy models), and L scanned
  layers per stack from compiles unrolled at depths (1, 1), (2, 1) and
  (1, 2): F(1, 1) + (L_enc - 1) e + (L_dec - 1) d, with e and d what one more
  layer costs.
  """
  k = step.microbatches
  one_microbatch = ([f'BATCH_SIZE = {step.batch_size // k}',
                     'trainer.Trainer.num_microbatches = None'] if k > 1 else [])
  if not step.scan_layers and k == 1:
    return counted

  def flops(extra: Sequence[str]) -> float:
    parse([*extra, *one_microbatch])
    return compile_step(devices).counted_flops

  if not step.scan_layers:
    return k * flops([])
  one = flops(_layer_bindings(1, 1))
  encoder = flops(_layer_bindings(2, 1)) - one
  decoder = flops(_layer_bindings(1, 2)) - one
  return k * (one + (step.encoder_layers - 1) * encoder +
              (step.decoder_layers - 1) * decoder)


def smallest_microbatches(parse: Callable[[Sequence[str]], None],
                          devices: Sequence[Any], step: StepConfig,
                          data_shards: int) -> Optional[int]:
  """The smallest power-of-two num_microbatches above the recipe's that fits,
  each microbatch still split evenly over the data axis."""
  k = step.microbatches * 2
  while k <= MAX_MICROBATCHES and step.batch_size % (k * data_shards) == 0:
    parse([f'trainer.Trainer.num_microbatches = {k}'])
    try:
      compile_step(devices)
      return k
    except DoesNotFit:
      k *= 2
  return None


def mesh_shape(devices: Sequence[Any]) -> dict[str, int]:
  """The parsed partitioner's mesh axes on `devices`, e.g. {'data': 16, 'model': 8}."""
  partitioner = recipe.value('train_script.train.partitioner')
  with _on_devices(devices):
    return dict(partitioner.mesh.shape)


def bytes_text(n: float) -> str:
  """'23.40 GiB', or '12.5 MiB' below 1 GiB."""
  return f'{n / tpu.GIB:.2f} GiB' if n >= tpu.GIB else f'{n / 2**20:.1f} MiB'
