r"""Compiles each phase's T5X train step for a Cloud TPU slice, on this machine.

Usage: ptjf compile EXPERIMENT [--topology=v4-256] [the binding flags of ptjf run]

For each phase, the real TPU compiler (libtpu, from the `tpu` extra) compiles
T5X's own partitioned train step ahead of time, as the recipe configures it
(model, partitioner and mesh, batch, feature lengths, microbatches) for the
slice's devices as libtpu describes them: no TPU, no parameter allocated,
nothing written. It prints per chip:
  - parameters plus optimizer slots, temporaries, generated code, and the
    peak against the HBM the compiler lets a program use;
  - FLOPs per step, with the loop bodies that the compiler's cost analysis
    counts once (scanned layers, the microbatch loop) counted in full, from
    extra compiles of one microbatch with the model unrolled at depths 1 and
    2, against 6 x parameters x tokens;
  - the roofline step time at the chip's peak bf16 FLOP/s, and the tokens/s
    that implies; the compile time.
A phase that does not fit exits 1 with one line: the phase, the bytes needed
and available, and the smallest num_microbatches that fits, if one does.

--topology takes gcloud's slice names: v4-8 ... v4-4096, v5p-8 ... v5p-4096,
v5e-1 ... v5e-256 (or v5litepod-N), v6e-1 ... v6e-256.

Example:
  ptjf compile ptjf_mc4_xxl --topology=v4-256
  ptjf compile pretrain_mc4_xxl --topology=v5e-256 \
    --gin.MODEL_PARALLEL_SUBMESH='(2, 4, 1, 1)'
"""

import os
import sys
import warnings
from typing import Any, Sequence

from absl import app
from absl import flags

from ptjf import aot
from ptjf import bindings
from ptjf import experiment
from ptjf import preflight
from ptjf import recipe
from ptjf import tpu

flags.adopt_module_key_flags(bindings)
_TOPOLOGY = flags.DEFINE_string(
    'topology', 'v4-256', 'The Cloud TPU slice, as gcloud --accelerator-type '
    'names it: v4-256, v5e-256 (v5litepod-256), v5p-128, v6e-64, ...')


def _percent(part: float, whole: float) -> str:
  return f'{100 * part / whole:.0f}%'


def describe(index: int, total: int, run: preflight.PhaseRun, where: tpu.Slice,
             mesh: dict[str, int], step: aot.StepConfig, compiled: aot.Compiled,
             flops: float) -> list[str]:
  """What `ptjf compile` prints for one phase that fits."""
  chip = where.chip
  ideal = 6 * step.parameters * step.tokens / where.chips
  seconds = flops / chip.peak_flops
  layers = (f', {"scanned" if step.scan_layers else "unrolled"} layers, remat '
            f'{step.remat_policy}' if step.remat_policy is not None else '')
  return [
      f'[{index}/{total}] {run.phase.arm}: '
      f'{os.path.relpath(run.phase.recipe, recipe.REPO)} on {where.name} '
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
      f'    FLOPs per chip per step {flops:.3g} = {flops / ideal:.2f} x 6 x '
      f'parameters x tokens ({ideal:.3g}); compiler count with loop bodies '
      f'once {compiled.counted_flops:.3g}',
      f'    roofline at {chip.peak_flops / 1e12:.0f} TFLOP/s per chip: '
      f'{seconds:.3g} s per step, {step.tokens / seconds:,.0f} tokens/s',
      f'    compiled in {compiled.seconds:.0f} s',
  ]


def compile_phase(index: int, total: int, run: preflight.PhaseRun,
                  gin_files: Sequence[str], where: tpu.Slice,
                  devices: Sequence[Any]) -> list[str]:
  """Compiles one phase; raises preflight.PreflightError if it does not fit."""
  parse = lambda extra=(): run.parse(gin_files, extra)
  parse()
  step = aot.step_config()
  try:
    mesh = aot.mesh_shape(devices)
  except (AssertionError, ValueError) as e:
    raise preflight.PreflightError(
        f'{run.phase.arm}: the mesh does not tile {where.name} '
        f'({where.topology_name}): {str(e).splitlines()[0]}') from e
  try:
    compiled = aot.compile_step(devices)
  except aot.DoesNotFit as e:
    fits = aot.smallest_microbatches(parse, devices, step, mesh.get('data', 1))
    advice = (f"--gin='trainer.Trainer.num_microbatches = {fits}' fits"
              if fits else
              f'no num_microbatches up to {aot.MAX_MICROBATCHES} fits: give a '
              'larger MODEL_PARALLEL_SUBMESH or a bigger slice')
    raise preflight.PreflightError(
        f'{run.phase.arm} does not fit {where.name}: it needs '
        f'{aot.bytes_text(e.needed)} per chip, {aot.bytes_text(e.available)} '
        f'are available; {advice}.') from e
  flops = aot.step_flops(parse, devices, step, compiled.counted_flops)
  return describe(index, total, run, where, mesh, step, compiled, flops)


def main(argv):
  try:
    name = experiment.from_argv(argv)
    where = tpu.parse(_TOPOLOGY.value)
    recipe.require_t5x(libtpu=True)
    # flax warns, once per stack, that remat ignores keyword arguments it is not given.
    warnings.filterwarnings('ignore', 'kwargs are not supported in remat')
    extra = bindings.pass_through_from_flags()
    runs = preflight.prepare(name, '<workdir>', gin_files=extra.gin_files,
                             tfds_data_dir=extra.tfds_data_dir,
                             **extra.bindings)
    devices = where.devices()
    for i, run in enumerate(runs, 1):
      print('\n'.join(compile_phase(i, len(runs), run, extra.gin_files,
                                    where, devices)), flush=True)
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
