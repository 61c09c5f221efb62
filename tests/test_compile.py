"""ptjf compile: T5X's train step compiled by the real TPU compiler (libtpu)
for a Cloud TPU slice on this CPU-only machine, and its refusals.

The compile tests need T5X and libtpu and skip without them; the topology
names need neither.
"""

import dataclasses
import os
import re

import numpy as np
import pytest

from ptjf import aot
from ptjf import flops
from ptjf import preflight
from ptjf import recipe
from ptjf import tpu

TPU_LOGS = '/tmp/tpu_logs'  # where libtpu logs unless told otherwise


@pytest.fixture
def ptjf_compile(ptjf, snapshot, tmp_path):
  """`ptjf compile ARGS` in a fresh directory, checking that nothing was
  written there, in the repository, or in libtpu's log directory (which
  libtpu picks when a process first loads it: subprocess=True)."""
  def run(*args, subprocess=False):
    watched = (str(tmp_path), recipe.REPO)
    before, logs = snapshot(*watched), os.path.exists(TPU_LOGS)
    result = ptjf('compile', *args, cwd=tmp_path, subprocess=subprocess)
    assert snapshot(*watched) == before
    assert os.path.exists(TPU_LOGS) == logs
    return result
  return run


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
def test_unknown_topology_is_refused_with_the_valid_names(name, ptjf_compile):
  result = ptjf_compile('pretrain_synth_mc4_tiny', f'--topology={name}')
  assert result.returncode == 1
  line = last_line(result)
  assert line.startswith(f'error: unknown TPU slice {name!r}: give one of v4-8, v4-16')
  assert 'v5e-256' in line and 'v5p-8' in line and 'v6e-1,' in line


@pytest.fixture
def no_libtpu(monkeypatch):
  """importlib finds no libtpu, as where it is not installed."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  find = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda n, *a: None if n == 'libtpu' else find(n, *a))


def test_without_libtpu_says_how_to_install_it(no_libtpu):
  del no_libtpu  # used for its effect
  assert "pip install -e '.[tpu]'" in recipe.libtpu_missing()


@pytest.mark.needs_t5x
def test_compile_without_libtpu_says_how_to_install_it(no_libtpu, ptjf_compile):
  del no_libtpu  # used for its effect
  result = ptjf_compile('pretrain_synth_mc4_tiny', '--topology=v4-8')
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


@pytest.mark.needs_libtpu
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


@pytest.mark.needs_libtpu
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


def groups(name, **bindings):
  runs = preflight.prepare(name, '<workdir>', check_data=False, **bindings)
  from ptjf import compile as compile_command  # pylint: disable=g-import-not-at-top
  return [[r.phase.arm for r in group]
          for group in compile_command.programs(runs, ())]


@pytest.mark.needs_t5x
def test_stages_that_differ_in_data_steps_or_schedule_share_one_program():
  assert groups('ptjfcool_synth_mc4_tiny') == [['pretrain', 'ptjfhot', 'ptjfcool']]
  assert groups('cooldown_synth_mc4_tiny') == [['hot', 'cooldown']]
  # The NMT fine-tune's schedule is its optimizer's (optax), with other steps.
  assert groups('ptjf_wmt_ro_fr_3layer', gin=['LEARNING_RATE = 5e-3'],
                finetune_gin=['HIGH_RESOURCE_RATE = 0.7', 'WARMUP_STEPS = 20000']
                ) == [['pretrain', 'ptjf']]
  assert groups('ptjf_synth_mc4_tiny', stage_gin=[
      'ptjf:WARMUP_STEPS = 10', 'ptjf:TRAIN_STEPS = 40',
      "ptjf:MIXTURE_OR_TASK_NAME = 'ptjf_synth.tau5'",
      'ptjf:utils.create_learning_rate_scheduler.base_learning_rate = 0.5',
  ]) == [['pretrain', 'ptjf']]


@pytest.mark.needs_t5x
@pytest.mark.parametrize('binding', [
    'BATCH_SIZE = 32', "TASK_FEATURE_LENGTHS = {'inputs': 64, 'targets': 32}",
    'trainer.Trainer.num_microbatches = 2', 'DROPOUT_RATE = 0.1',
    'adafactor.Adafactor.decay_rate = 0.9',
    'partitioning.PjitPartitioner.num_partitions = 2'])
def test_a_stage_with_another_model_optimizer_mesh_or_batch_is_another_program(binding):
  assert groups('ptjfcool_synth_mc4_tiny', stage_gin=[f'ptjfhot:{binding}']) == [
      ['pretrain', 'ptjfcool'], ['ptjfhot']]


@pytest.mark.needs_libtpu
def test_a_chain_compiles_each_program_once_for_v4_8(ptjf_compile):
  result = ptjf_compile('ptjfcool_synth_mc4_tiny', '--topology=v4-8',
                        '--stage_gin=ptjfcool:BATCH_SIZE = 32',
                        '--step_time=0.5', subprocess=True)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0] == (
      '[1/2] pretrain, ptjfhot: one program (recipes/pretrain_synth_mc4_tiny.gin, '
      'recipes/ptjfhot_synth_mc4_tiny.gin) on v4-8 (4 chips, v4:2x2x1; mesh '
      'data 4 x model 1)')
  assert ('[2/2] ptjfcool: recipes/ptjfcool_synth_mc4_tiny.gin on v4-8 (4 chips, '
          'v4:2x2x1; mesh data 4 x model 1)') in lines
  assert sum('of 30.75 GiB usable (32 GiB HBM)' in line for line in lines) == 2
  # The tiny model's FLOPs per chip (batch 16 of 128 + 32 tokens on 4 chips),
  # counted by hand from its weights: encoder layer 4 x 64 x 64 + 3 x 64 x 128
  # weights a token, decoder layer 6 x 64 x 64 + 3 x 64 x 128 a target token,
  # cross-attention's keys and values 2 x 64 x 64 an input token, logits
  # 64 x 1,664; attention 4 x queries x keys x 64.
  forward = (2 * 2 * 128 * (4 * 64 * 64 + 3 * 64 * 128) + 2 * 4 * 128 * 128 * 64
             + 2 * 2 * 32 * (6 * 64 * 64 + 3 * 64 * 128)
             + 2 * 2 * 128 * 2 * 64 * 64 + 2 * 4 * 64 * (32 * 32 + 32 * 128)
             + 2 * 32 * 64 * 1664)
  flops_lines = [line for line in lines if line.startswith('    FLOPs per chip')]
  assert [line.split(', hardware')[0] for line in flops_lines] == [
      f'    FLOPs per chip per step: model {3 * batch * forward / 4:.3g}'
      for batch in (16, 32)]
  assert [line.split(', MFU')[0] for line in lines if line.startswith('    measured')] == [
      '    measured 0.5 s per step: 5,120 tokens/s',
      '    measured 0.5 s per step: 10,240 tokens/s']


def test_model_flops_of_mt5_xxl_equal_a_hand_count():
  """mT5-XXL at batch 1024 of 1024 + 229 tokens on 128 chips, counted from its
  weights per token (2 FLOPs a weight) and its attention matrices."""
  xxl = flops.EncoderDecoder(vocab_size=250112, emb_dim=4096, num_heads=64,
                             head_dim=64, mlp_dim=10240, mlp_inputs=2,
                             encoder_layers=24, decoder_layers=24)
  d, a, f, inputs, targets = 4096, 64 * 64, 10240, 1024, 229
  encoder = 2 * inputs * (4 * d * a + 3 * d * f) + 4 * inputs * inputs * a
  decoder = (2 * targets * (6 * d * a + 3 * d * f) + 2 * inputs * 2 * d * a
             + 4 * a * (targets * targets + targets * inputs))
  assert flops.encoder_layer(xxl, inputs) == encoder == 412_316_860_416
  assert flops.decoder_layer(xxl, inputs, targets) == decoder
  per_chip = 3 * 1024 * (24 * encoder + 24 * decoder + 2 * targets * d * 250112) / 128
  assert flops.train_step(xxl, 1024, inputs, targets) / 128 == per_chip
  assert round(per_chip / 1e12) == 351  # the 3.51e14 of an independent count


@pytest.mark.parametrize('text', ['0', 'nan', 'fast'])
def test_a_step_time_that_is_not_one_is_refused(text, ptjf_compile):
  result = ptjf_compile('pretrain_synth_mc4_tiny', f'--step_time={text}')
  assert result.returncode == 1
  assert last_line(result) == (
      f'error: --step_time={text} is not a step time: give the seconds per '
      'step measured on the slice, a number above 0 (e.g. --step_time=1.9).')
  assert not result.stdout


@pytest.mark.needs_libtpu
def test_a_step_too_big_is_refused_with_a_setting_that_fits(ptjf_compile):
  result = ptjf_compile('pretrain_synth_mc4_tiny', '--topology=v4-8',
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


@pytest.mark.needs_libtpu
def test_a_mesh_that_does_not_tile_the_slice_is_refused(ptjf_compile):
  # XXL's submesh (1, 1, 8, 1) needs a z extent of 8; a v4-8 is 2x2x1.
  result = ptjf_compile('pretrain_mc4_xxl', '--topology=v4-8')
  assert result.returncode == 1
  assert last_line(result).startswith(
      'error: pretrain: the mesh does not tile v4-8 (v4:2x2x1): ')
  assert not result.stdout


XXL = os.path.join(recipe.RECIPES_DIR, 'pretrain_mc4_xxl.gin')


def parser(path, *bindings):
  """`parse(extra)` for aot's counting functions: the recipe with bindings."""
  return lambda extra=(): recipe.parse(path, ['MODEL_DIR = "<workdir>"', *bindings, *extra])


@pytest.mark.needs_libtpu
def test_xxl_hardware_flops_count_every_loop_and_match_the_model_per_layer(monkeypatch):
  """XXL's width on a v4-256 (mesh data 16 x model 8), one sequence per data
  shard: the SPMD partitioner turns the model-parallel matmuls into windowed
  einsums, loops that the compiler's own count takes once. With them the
  counting refuses; without them one more layer costs what the model says
  (plus the elementwise work and attention recomputed by remat), and the
  whole step at least the model's FLOPs."""
  devices = tpu.parse('v4-256').devices()
  parse = parser(XXL, 'BATCH_SIZE = 16', 'trainer.Trainer.num_microbatches = None')
  parse()
  step = aot.step_config()
  assert (step.encoder_layers, step.decoder_layers, step.scan_layers) == (24, 24, True)
  with monkeypatch.context() as patch:  # windowed einsums left on
    patch.setattr(aot, 'WHOLE_COUNT_OPTIONS', {})
    with pytest.raises(aot.LoopNotCounted, match=r'still holds \d+ loops'):
      aot.layer_flops(parse, devices, step)
  one, encoder, decoder = aot.layer_flops(parse, devices, step)
  per_chip = lambda forward: 3 * 16 * forward / 128
  assert encoder == pytest.approx(per_chip(flops.encoder_layer(step.model, 1024)), rel=0.1)
  assert decoder == pytest.approx(per_chip(flops.decoder_layer(step.model, 1024, 229)),
                                  rel=0.1)
  # The step at depths (1, 1) is the model's work plus T5X's embedding lookup,
  # a one-hot matmul of the 1,253 tokens by the 250,112 x 4,096 table, forward
  # and for the table's gradient: 2 x 2 FLOPs per multiply-add.
  model = dataclasses.replace(step.model, encoder_layers=1, decoder_layers=1)
  one_hot = 2 * 2 * (1024 + 229) * 250112 * 4096 * 16 / 128
  assert one == pytest.approx(per_chip(flops.forward(model, 1024, 229)) + one_hot,
                              rel=0.05)
  assert one + 23 * encoder + 23 * decoder >= step.model_flops() / 128


@pytest.mark.needs_libtpu
@pytest.mark.parametrize('recipe_name, where, bindings', [
    ('pretrain_mc4_xl', 'v4-64', ['BATCH_SIZE = 16']),
    ('pretrain_wmt_ro_fr_6layer', 'v4-8', ['BATCH_SIZE = 4', 'LEARNING_RATE = 5e-3']),
])
def test_hardware_flops_are_at_least_the_model_flops(recipe_name, where, bindings):
  """docs/compile.md's table beside XXL (above), one sequence per data
  shard: the program does at least the model's work per chip."""
  devices = tpu.parse(where).devices()
  parse = parser(os.path.join(recipe.RECIPES_DIR, f'{recipe_name}.gin'), *bindings,
                 'trainer.Trainer.num_microbatches = None')
  parse()
  step = aot.step_config()
  model = step.model_flops() / len(devices)
  assert model <= aot.hardware_flops(parse, devices, step) < 3 * model


@pytest.mark.needs_libtpu
def test_a_hardware_count_below_the_model_is_refused(monkeypatch):
  from ptjf import compile as compile_command  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(aot, 'hardware_flops', lambda *args: 1.0)
  run = preflight.prepare('pretrain_synth_mc4_tiny', '<workdir>')[0]
  where = tpu.parse('v4-8')
  with pytest.raises(recipe.PreflightError, match=(
      r'^pretrain: the compiled step counts 1 FLOPs per chip, fewer than the '
      r'5\.914e\+08 the model needs: a loop of the program was not counted whole\.$')):
    compile_command.compile_program(1, 1, [run], [], where, where.devices())
