"""Compiles a parsed recipe's T5X train step ahead of time for a TPU slice,
after checking that its mesh tiles the slice and its batch splits over it.

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

from ptjf import flops
from ptjf import host
from ptjf import recipe
from ptjf import tpu

# The compiler's refusal: "... required for HLO temporaries (138.00G) exceeds
# available HBM (30.75G)".
_OUT_OF_MEMORY = re.compile(r'\(([\d.]+)([KMGT])\)\s*exceeds available HBM\s*'
                            r'\(([\d.]+)([KMGT])\)')
_UNIT = {'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}
MAX_MICROBATCHES = 64  # the search for a setting that fits stops here
# libtpu's switches for XLA's windowed einsums (collective matmuls): with a
# model axis the SPMD partitioner splits a sharded matmul into a loop over its
# chunks, which the cost analysis counts once. Off, each is one einsum on
# gathered operands: the same multiply-adds, no loop.
WHOLE_COUNT_OPTIONS = {'xla_tpu_enable_windowed_einsum_for_all_gather': False,
                       'xla_tpu_enable_windowed_einsum_for_reduce_scatter': False}
_WHILE = re.compile(r'\swhile\(')  # a loop in the optimized HLO text


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
      (scanned layers, the microbatch loop, windowed einsums) once.
    loops: while loops in the optimized program.
    seconds: lowering and compiling.
  """
  state_bytes: int
  argument_bytes: int
  temp_bytes: int
  code_bytes: int
  peak_bytes: int
  counted_flops: float
  loops: int
  seconds: float


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """What the parsed recipe configures for its train step.

  Attributes:
    model: the encoder-decoder's shape, None for a network of another kind.
  """
  batch_size: int
  feature_lengths: dict[str, int]
  num_microbatches: Optional[int]
  parameters: int
  encoder_layers: Optional[int]
  decoder_layers: Optional[int]
  scan_layers: bool
  remat_policy: Optional[str]
  model: Optional[flops.EncoderDecoder]

  @property
  def tokens(self) -> int:
    """Tokens per step: every sequence's inputs and targets."""
    return self.batch_size * sum(self.feature_lengths.values())

  @property
  def microbatches(self) -> int:
    return max(self.num_microbatches or 1, 1)

  def model_flops(self) -> Optional[float]:
    """The model FLOPs of one step over the whole batch (ptjf/flops.py)."""
    if self.model is None:
      return None
    return flops.train_step(self.model, self.batch_size,
                            self.feature_lengths['inputs'],
                            self.feature_lengths['targets'])


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
      remat_policy=getattr(network, 'remat_policy', None),
      model=(flops.from_t5_config(network) if network is not None and
             {'inputs', 'targets'} <= set(cfg.task_feature_lengths) else None))


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


def compile_step(devices: Sequence[Any],
                 compiler_options: Optional[dict[str, Any]] = None) -> Compiled:
  """Lowers and compiles the parsed recipe's train step for `devices`, with
  libtpu's `compiler_options` if given; raises DoesNotFit when the compiler
  finds too little HBM."""
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
      compiled = trainer._partitioned_train_step.lower(state, batch).compile(  # pylint: disable=protected-access
          compiler_options)
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
      loops=len(_WHILE.findall(compiled.as_text())),
      seconds=time.time() - start)


def _layer_bindings(encoder: int, decoder: int) -> list[str]:
  return ['network.T5Config.scan_layers = False',
          f'network.T5Config.num_encoder_layers = {encoder}',
          f'network.T5Config.num_decoder_layers = {decoder}']


class LoopNotCounted(ValueError):
  """A counting compile still holds a loop, whose body would be counted once."""


def _one_microbatch(step: StepConfig) -> list[str]:
  k = step.microbatches
  return ([f'BATCH_SIZE = {step.batch_size // k}',
           'trainer.Trainer.num_microbatches = None'] if k > 1 else [])


def _whole_count(parse: Callable[[Sequence[str]], None], devices: Sequence[Any],
                 extra: Sequence[str]) -> float:
  """The compiler's FLOPs count of the recipe parsed with `extra`, compiled
  without windowed einsums; raises LoopNotCounted if a loop remains."""
  parse(extra)
  compiled = compile_step(devices, WHOLE_COUNT_OPTIONS)
  if compiled.loops:
    raise LoopNotCounted(
        f'the step compiled for counting ({", ".join(extra) or "as is"}) '
        f'still holds {compiled.loops} loops, whose bodies the compiler counts '
        'once: its FLOPs would be an undercount.')
  return compiled.counted_flops


def layer_flops(parse: Callable[[Sequence[str]], None], devices: Sequence[Any],
                step: StepConfig) -> tuple[float, float, float]:
  """Per chip, on one microbatch: the step unrolled at depths (1, 1), and
  what one more encoder layer and one more decoder layer add to it."""
  one_microbatch = _one_microbatch(step)
  count = lambda e, d: _whole_count(parse, devices,
                                    [*_layer_bindings(e, d), *one_microbatch])
  one = count(1, 1)
  return one, count(2, 1) - one, count(1, 2) - one


def hardware_flops(parse: Callable[[Sequence[str]], None],
                   devices: Sequence[Any], step: StepConfig) -> float:
  """FLOPs per chip of one whole step as the compiled program does them,
  every loop counted by its trip count; `parse(extra)` parses the recipe again
  with extra bindings.

  The cost analysis counts a loop body once, so the count comes from compiles
  without loops: windowed einsums off (WHOLE_COUNT_OPTIONS); k microbatches
  as k steps on one microbatch (which counts the optimizer's update k times,
  a negligible share of a step but for toy models); L scanned layers per stack
  as F(1, 1) + (L_enc - 1) e + (L_dec - 1) d (layer_flops).
  Raises LoopNotCounted if a counting compile still holds a loop.
  """
  k = step.microbatches
  if not step.scan_layers:
    return k * _whole_count(parse, devices, _one_microbatch(step))
  one, encoder, decoder = layer_flops(parse, devices, step)
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


def check_mesh(where: tpu.Slice, devices: Sequence[Any], arm: str
               ) -> dict[str, int]:
  """The parsed recipe's mesh on the slice, e.g. {'data': 16, 'model': 8};
  raises recipe.PreflightError when it does not tile the slice, or when the
  batch (each microbatch) does not split evenly over its data axis.
  `ptjf compile` and `ptjf launch` refuse a slice with it."""
  try:
    mesh = mesh_shape(devices)
  except (AssertionError, ValueError) as e:
    raise recipe.PreflightError(
        f'{arm}: the mesh does not tile {where.name} ({where.topology_name}): '
        f'{str(e).splitlines()[0]}') from e
  if problem := host.split_problem(host.mesh_need(), mesh.get('data', 1),
                                   f'{where.name} ({where.chips} chips)'):
    raise recipe.PreflightError(f'{arm}: {problem}.')
  return mesh
