r"""Compiles each distinct T5X train step of an experiment for a Cloud TPU
slice, on this machine.

Usage: ptjf compile EXPERIMENT [--topology=v4-256] [the binding flags of ptjf run]

For each program the stages of the experiment train, the real TPU compiler
(libtpu, from the `tpu` extra) compiles T5X's own partitioned train step
ahead of time, as the recipe configures it (model, optimizer, partitioner and
mesh, batch, feature lengths, microbatches) for the slice's devices as libtpu
describes them: no TPU, no parameter allocated, nothing written. Stages that
differ only in their data, steps, schedule or checkpoints train one program,
compiled once, and the report names them ('pretrain, ptjf: one program').
It prints per chip:
  - parameters plus optimizer slots, temporaries, generated code, and the
    peak against the HBM the compiler lets a program use;
  - FLOPs per step: the model's (its matmuls, 3 x the forward pass, as MFU
    counts them: ptjf/flops.py) and the hardware's (what the compiled program
    does, every loop counted by its trip count: extra compiles of one
    microbatch with the layers unrolled at depths 1 and 2 and XLA's windowed
    einsums off, which the compiler's own count would take once each);
  - the roofline step time at the chip's peak bf16 FLOP/s from the hardware
    FLOPs, the tokens/s and the MFU it would give; with --step_time (seconds
    per step, measured on the slice), the measured tokens/s and MFU;
  - the compile time.
A program that does not fit exits 1 with one line: its stages, the bytes needed
and available, and the smallest num_microbatches that fits, if one does. So
does a hardware count below the model's, which only an uncounted loop gives.

--topology takes gcloud's slice names: v4-8 ... v4-4096, v5p-8 ... v5p-4096,
v5e-1 ... v5e-256 (or v5litepod-N), v6e-1 ... v6e-256.

Example:
  ptjf compile ptjf_mc4_xxl --topology=v4-256
  ptjf compile pretrain_mc4_xxl --topology=v4-256 --step_time=1.9
  ptjf compile pretrain_mc4_xxl --topology=v5e-256 \
    --gin.MODEL_PARALLEL_SUBMESH='(2, 4, 1, 1)'
"""

import os
import re
import sys
import warnings
from typing import Any, Optional, Sequence

from absl import app
from absl import flags
from gin import config as gin_config

from ptjf import aot
from ptjf import bindings
from ptjf import experiment
from ptjf import phase
from ptjf import preflight
from ptjf import recipe
from ptjf import tpu

flags.adopt_module_key_flags(bindings)
_TOPOLOGY = flags.DEFINE_string(
    'topology', 'v4-256', 'The Cloud TPU slice, as gcloud --accelerator-type '
    'names it: v4-256, v5e-256 (v5litepod-256), v5p-128, v6e-64, ...')
_STEP_TIME = flags.DEFINE_string(
    'step_time', None, 'Seconds per training step measured on the slice '
    "(T5X's timing/seconds_per_step): adds the measured tokens/s and MFU.")


def _percent(part: float, whole: float) -> str:
  return f'{100 * part / whole:.0f}%'


def stage_names(runs: Sequence[phase.PhaseRun]) -> str:
  return ', '.join(r.phase.arm for r in runs)


def heading(runs: Sequence[phase.PhaseRun]) -> str:
  """'pretrain: recipes/pretrain_X.gin', or for stages sharing one program
  'pretrain, ptjf: one program (recipes/pretrain_X.gin, recipes/ptjf_X.gin)'."""
  paths = ', '.join(os.path.relpath(r.phase.recipe, recipe.REPO) for r in runs)
  if len(runs) == 1:
    return f'{runs[0].phase.arm}: {paths}'
  return f'{stage_names(runs)}: one program ({paths})'


def describe(index: int, total: int, runs: Sequence[phase.PhaseRun],
             where: tpu.Slice, mesh: dict[str, int], step: aot.StepConfig,
             compiled: aot.Compiled, hardware: float,
             step_time: Optional[float] = None) -> list[str]:
  """What `ptjf compile` prints for one program that fits."""
  chip = where.chip
  model = step.model_flops() / where.chips
  roofline = hardware / chip.peak_flops
  mfu = lambda seconds: f'{100 * model / (seconds * chip.peak_flops):.3g}%'
  layers = (f', {"scanned" if step.scan_layers else "unrolled"} layers, remat '
            f'{step.remat_policy}' if step.remat_policy is not None else '')
  lines = [
      f'[{index}/{total}] {heading(runs)} on {where.name} '
      f'({where.chips} chips, {where.topology_name}; mesh '
      + ' x '.join(f'{axis} {n}' for axis, n in mesh.items()) + ')',
      f'    {step.parameters:,} parameters; batch {step.batch_size} x '
      f'{" + ".join(map(str, step.feature_lengths.values()))} tokens; '
      f'num_microbatches {step.num_microbatches}{layers}',
      f'    per chip: parameters + optimizer slots {aot.bytes_text(compiled.state_bytes)}, '
      f'temporaries {aot.bytes_text(compiled.temp_bytes)}, code '
      f'{aot.bytes_text(compiled.code_bytes)}',
      f'    peak {aot.bytes_text(compiled.peak_bytes)} of '
      f'{aot.bytes_text(chip.usable_bytes)} usable ({chip.hbm_bytes // tpu.GIB} '
      f'GiB HBM): {_percent(chip.usable_bytes - compiled.peak_bytes, chip.usable_bytes)} '
      'headroom',
      f'    FLOPs per chip per step: model {model:.3g}, hardware {hardware:.3g} '
      f'({hardware / model:.2f} x model)',
      f'    roofline at {chip.peak_flops / 1e12:.0f} TFLOP/s per chip: '
      f'{roofline:.3g} s per step, {step.tokens / roofline:,.0f} tokens/s, '
      f'MFU {mfu(roofline)}',
  ]
  if step_time is not None:
    lines.append(f'    measured {step_time:g} s per step: '
                 f'{step.tokens / step_time:,.0f} tokens/s, MFU {mfu(step_time)}')
  return lines + [f'    compiled in {compiled.seconds:.0f} s']


# The train step's configurables and those of their parameters that build it
# (what aot.compile_step reads).
_PROGRAM_ROOT = ('', 'train_script.train')
_ONLY = {'train_script.train': {'model', 'partitioner', 'trainer_cls',
                                'train_dataset_cfg'},
         't5x.utils.DatasetConfig': {'batch_size', 'task_feature_lengths', 'pack'}}
_REFERENCE = re.compile(r'([@%])([\w./]+)')
# A learning-rate schedule (the Trainer's, or the optimizer's in optax) is not
# followed: its numbers are constants of the program, not its memory or FLOPs.
_SCHEDULE = re.compile(r'schedule', re.I)


def program_key() -> frozenset[tuple[str, str, str, str]]:
  """The bindings of the parsed config the train step is built from,
  followed through every reference from train_script.train's model,
  partitioner, trainer and train batch (its size, lengths and packing),
  a learning-rate schedule's left out."""
  # The parsed config rather than the lowered program: nothing traced, and a
  # fine-tune's new warm-up does not make it another program.
  config = gin_config._CONFIG  # pylint: disable=protected-access
  key, seen, todo = set(), set(), [_PROGRAM_ROOT]
  while todo:
    scope, selector = todo.pop()
    for (where, name), params in config.items():
      if (where, name) in seen or not _refers(scope, selector, where, name):
        continue
      seen.add((where, name))
      for param, value in params.items():
        if param not in _ONLY.get(name, {param}):
          continue
        key.add((where, name, param, repr(value)))
        for kind, path in _REFERENCE.findall(repr(value)):
          inner, _, target = path.rpartition('/')
          if not _SCHEDULE.search(target):
            todo.append(('/'.join(filter(None, (scope, inner))), target)
                        if kind == '@' else (path, 'gin.macro'))
  return frozenset(key)


def _refers(scope: str, selector: str, where: str, name: str) -> bool:
  """Whether a reference to `selector` in `scope` takes the bindings gin
  holds for `name` in `where`."""
  if selector == 'gin.macro':
    return name == 'gin.macro' and where == scope
  return (name != 'gin.macro' and (name == selector or name.endswith('.' + selector))
          and (not where or scope == where or scope.startswith(where + '/')))


def programs(runs: Sequence[phase.PhaseRun],
             gin_files: Sequence[str]) -> list[list[phase.PhaseRun]]:
  """The stages grouped by the program they train, in the order first met."""
  groups: dict[frozenset, list[phase.PhaseRun]] = {}
  for run in runs:
    run.parse(gin_files)
    groups.setdefault(program_key(), []).append(run)
  return list(groups.values())


def compile_program(index: int, total: int, runs: Sequence[phase.PhaseRun],
                    gin_files: Sequence[str], where: tpu.Slice,
                    devices: Sequence[Any],
                    step_time: Optional[float] = None) -> list[str]:
  """Compiles the program of `runs`, the stages that share it, as the first
  configures it; raises recipe.PreflightError if it does not fit, or if its
  FLOPs cannot be counted whole."""
  name = stage_names(runs)
  parse = lambda extra=(): runs[0].parse(gin_files, extra)
  parse()
  step = aot.step_config()
  if step.model is None:
    raise recipe.PreflightError(
        f'{name}: ptjf compile counts the FLOPs of T5X encoder-decoders '
        '(network.T5Config with inputs and targets); this recipe builds '
        f'{type(recipe.value("MODEL")).__name__}.')
  mesh = aot.check_mesh(where, devices, name)  # as ptjf launch does
  try:
    compiled = aot.compile_step(devices)
  except aot.DoesNotFit as e:
    fits = aot.smallest_microbatches(parse, devices, step, mesh.get('data', 1))
    advice = (f"--gin='trainer.Trainer.num_microbatches = {fits}' fits"
              if fits else
              f'no num_microbatches up to {aot.MAX_MICROBATCHES} fits: give a '
              'larger MODEL_PARALLEL_SUBMESH or a bigger slice')
    raise recipe.PreflightError(
        f'{name} does not fit {where.name}: it needs '
        f'{aot.bytes_text(e.needed)} per chip, {aot.bytes_text(e.available)} '
        f'are available; {advice}.') from e
  try:
    hardware = aot.hardware_flops(parse, devices, step)
  except aot.LoopNotCounted as e:
    raise recipe.PreflightError(f'{name}: {e}') from e
  model = step.model_flops() / where.chips
  if hardware < model:
    raise recipe.PreflightError(
        f'{name}: the compiled step counts {hardware:.4g} FLOPs per '
        f'chip, fewer than the {model:.4g} the model needs: a loop of the '
        'program was not counted whole.')
  return describe(index, total, runs, where, mesh, step, compiled, hardware,
                  step_time)


def _step_time(text: Optional[str]) -> Optional[float]:
  """--step_time as seconds: a finite number above 0."""
  if text is None:
    return None
  try:
    seconds = float(text)
  except ValueError:
    seconds = float('nan')
  if not 0 < seconds < float('inf'):
    raise ValueError(f'--step_time={text} is not a step time: give the seconds '
                     'per step measured on the slice, a number above 0 '
                     '(e.g. --step_time=1.9).')
  return seconds


def main(argv):
  try:
    name = experiment.from_argv(argv)
    where = tpu.parse(_TOPOLOGY.value)
    step_time = _step_time(_STEP_TIME.value)
    recipe.require_t5x(libtpu=True)
    # flax warns, once per stack, that remat ignores keyword arguments it is not given.
    warnings.filterwarnings('ignore', 'kwargs are not supported in remat')
    extra = bindings.pass_through_from_flags()
    runs = preflight.prepare(name, '<workdir>', gin_files=extra.gin_files,
                             tfds_data_dir=extra.tfds_data_dir,
                             check_data=False, **extra.bindings)
    devices = where.devices()
    groups = programs(runs, extra.gin_files)
    for i, group in enumerate(groups, 1):
      print('\n'.join(compile_program(i, len(groups), group, extra.gin_files,
                                      where, devices, step_time)), flush=True)
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
