"""ptjf compile: T5X's train step compiled by the real TPU compiler (libtpu)
for a Cloud TPU slice on this CPU-only machine, and its refusals.

The compile tests need T5X and libtpu and skip without them; the topology
names need neither.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from test_bad_input import snapshot

from ptjf import aot
from ptjf import preflight
from ptjf import recipe
from ptjf import tpu

MISSING = recipe.t5x_missing() or recipe.libtpu_missing()
NEEDS_LIBTPU = pytest.mark.skipif(bool(MISSING), reason=MISSING)
TPU_LOGS = '/tmp/tpu_logs'  # where libtpu logs unless told otherwise


def ptjf_compile(cwd, *args, hide_libtpu=False):
  """`ptjf compile ARGS` in `cwd`, checking that nothing was written there,
  in the repository, or in libtpu's log directory."""
  watched = (str(cwd), recipe.REPO)
  before, logs = snapshot(*watched), os.path.exists(TPU_LOGS)
  hide = ("import importlib.util as u; find = u.find_spec; "
          "u.find_spec = lambda n, *a: None if n == 'libtpu' else find(n, *a); "
          if hide_libtpu else '')
  result = subprocess.run(
      [sys.executable, '-c', f'{hide}from ptjf import cli; cli.main()',
       'compile', *args], cwd=cwd, capture_output=True, text=True,
      env={**recipe.cpu_env(), 'PYTHONPATH': recipe.REPO}, timeout=900)
  assert snapshot(*watched) == before
  assert os.path.exists(TPU_LOGS) == logs
  return result


def last_line(result):
  """The refusal: the last line of stderr and its only 'error:' line (what
  comes before it is TensorFlow's and absl's start-up chatter)."""
  assert 'Traceback' not in result.stderr, result.stderr
  lines = result.stderr.strip().splitlines()
  assert [line for line in lines if line.startswith('error')] == lines[-1:]
  return lines[-1]


def test_slice_names():
  v4 = tpu.parse('v4-256')
  assert (v4.topology_name, v4.chips, v4.chip.chip_config) == ('v4:4x4x8', 128, 'megacore')
  assert tpu.parse('v5p-8').topology_name == 'v5:2x2x1'
  assert tpu.parse('v5litepod-256').topology_name == 'v5e:16x16'
  assert tpu.parse('v5e-8').chips_per_host_bounds == (2, 4, 1)
  assert tpu.parse('v6e-256').chips_per_host_bounds == (2, 2, 1)


@pytest.mark.parametrize('name', ['v4-7', 'v4-6', 'v5e-12', 'v3-8', 'tpu', 'v4-'])
def test_unknown_topology_is_refused_with_the_valid_names(name, tmp_path):
  result = ptjf_compile(tmp_path, 'pretrain_synth_mc4_tiny', f'--topology={name}')
  assert result.returncode == 1
  line = last_line(result)
  assert line.startswith(f'error: unknown TPU slice {name!r}: give one of v4-8, v4-16')
  assert 'v5e-256' in line and 'v5p-8' in line and 'v6e-1,' in line


def test_without_libtpu_says_how_to_install_it(tmp_path, monkeypatch):
  import importlib.util  # pylint: disable=g-import-not-at-top
  find = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda n, *a: None if n == 'libtpu' else find(n, *a))
  assert "pip install -e '.[tpu]'" in recipe.libtpu_missing()
  if recipe.t5x_missing():
    pytest.skip(recipe.t5x_missing())
  result = ptjf_compile(tmp_path, 'pretrain_synth_mc4_tiny', '--topology=v4-8',
                        hide_libtpu=True)
  assert result.returncode == 1
  assert last_line(result).startswith('error: libtpu is not installed in ')


def hand_count_bytes(recipe_name):
  """Train-state bytes of a tiny recipe from its parameter shapes alone:
  float32 parameters with two float32 slots of their shape (Adafactor's
  unfactored v and momentum m; Adam's mu and nu), plus the small leaves."""
  preflight_run = preflight.prepare(recipe_name, '<workdir>')[0]
  preflight_run.parse()
  shapes = recipe.parameter_shapes()
  weights = sum(int(np.prod(s)) for s in shapes.values())
  if 'mc4' in recipe_name:  # Adafactor: v_row and v_col of shape (1,) per array; the step
    return 12 * weights + 8 * len(shapes) + 4
  return 12 * weights + 12  # Adam: the step, Adam's count, the schedule's count


@NEEDS_LIBTPU
@pytest.mark.parametrize('recipe_name', ['pretrain_synth_mc4_tiny',
                                         'pretrain_synth_ro_fr_tiny'])
def test_tiny_state_bytes_per_chip_equal_a_hand_count(recipe_name):
  devices = tpu.parse('v4-8').devices()
  expected = hand_count_bytes(recipe_name)
  # T5X's default single partition: each of the 4 chips holds it all.
  assert aot.mesh_shape(devices) == {'data': 4, 'model': 1}
  compiled = aot.compile_step(devices)
  assert compiled.state_bytes == expected
  assert compiled.argument_bytes >= expected
  assert 0 < compiled.peak_bytes < tpu.CHIPS['v4'].usable_bytes


@NEEDS_LIBTPU
def test_model_parallel_halves_the_embedding_per_chip():
  devices = tpu.parse('v4-8').devices()
  bindings = ['partitioning.PjitPartitioner.num_partitions = None',
              'partitioning.PjitPartitioner.model_parallel_submesh = (1, 2, 1, 1)']
  run = preflight.prepare('pretrain_synth_mc4_tiny', '<workdir>', gin=bindings)[0]
  run.parse()
  assert aot.mesh_shape(devices) == {'data': 2, 'model': 2}
  split = aot.compile_step(devices).state_bytes
  # The token embedding (1,664 x 64, vocab over 'model') and its two slots
  # are split over the model axis; so is every other sharded weight.
  assert split < hand_count_bytes('pretrain_synth_mc4_tiny') - 12 * 1664 * 64 // 2


@NEEDS_LIBTPU
def test_the_tiny_chain_compiles_for_v4_8(tmp_path):
  result = ptjf_compile(tmp_path, 'ptjf_synth_mc4_tiny', '--topology=v4-8')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0].startswith('[1/2] pretrain: recipes/pretrain_synth_mc4_tiny.gin '
                             'on v4-8 (4 chips, v4:2x2x1; mesh data 4 x model 1)')
  assert any(line.startswith('[2/2] ptjf: recipes/ptjf_synth_mc4_tiny.gin') for line in lines)
  assert sum('of 30.75 GiB usable (32 GiB HBM)' in line for line in lines) == 2
  assert sum('x 6 x parameters x tokens' in line for line in lines) == 2


@NEEDS_LIBTPU
def test_a_step_too_big_is_refused_with_a_setting_that_fits(tmp_path):
  result = ptjf_compile(tmp_path, 'pretrain_synth_mc4_tiny', '--topology=v4-8',
                        '--gin=BATCH_SIZE = 524288')
  assert result.returncode == 1
  line = last_line(result)
  assert line.startswith('error: pretrain does not fit v4-8: it needs ')
  assert 'per chip, 30.75 GiB are available; ' in line
  fits = re.search(r"--gin='trainer.Trainer.num_microbatches = (\d+)' fits\.$", line)
  assert fits, line
  assert not result.stdout
  # What it suggests compiles, and half of it does not.
  devices = tpu.parse('v4-8').devices()
  k = int(fits.group(1))
  for microbatches, fit in ((k, True), (k // 2, False)):
    run = preflight.prepare('pretrain_synth_mc4_tiny', '<workdir>', gin=[
        'BATCH_SIZE = 524288', f'trainer.Trainer.num_microbatches = {microbatches}'])[0]
    run.parse()
    if fit:
      assert aot.compile_step(devices).peak_bytes <= tpu.CHIPS['v4'].usable_bytes
    else:
      with pytest.raises(aot.DoesNotFit):
        aot.compile_step(devices)


@NEEDS_LIBTPU
def test_a_mesh_that_does_not_tile_the_slice_is_refused(tmp_path):
  # XXL's submesh (1, 1, 8, 1) needs a z extent of 8; a v4-8 is 2x2x1.
  result = ptjf_compile(tmp_path, 'pretrain_mc4_xxl', '--topology=v4-8')
  assert result.returncode == 1
  assert last_line(result).startswith(
      'error: pretrain: the mesh does not tile v4-8 (v4:2x2x1): ')
  assert not result.stdout
