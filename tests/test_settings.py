"""The table of settings (ptjf/settings.py): each value against its limits
worked out by hand, what must hold between settings, where a refusal says a
value was given, and every shipped recipe passing."""

import os

import pytest

from ptjf import experiment
from ptjf import recipe
from ptjf import settings

NETWORK = settings.NETWORK
# (name as bound, valid values, values refused)
VALUES = [
    ('TRAIN_STEPS', [1, 160, 2**31 - 1], [0, -5, 2**31, True, 1.0, '160', None]),
    ('WARMUP_STEPS', [0, 1, 40_000, 2**31 - 1], [-1, 2**31, 0.5, False, None]),
    ('BATCH_SIZE', [1, 1024], [0, -16, 16.0, True, None]),
    ('LEARNING_RATE', [5e-3, 1, 7.5e-3], [0, -1, 0.0, float('nan'),
                                         float('inf'), True, '1e-3', None]),
    ('DROPOUT_RATE', [0, 0.0, 0.1, 0.999], [1, 1.0, -0.1, float('nan'), '0.1']),
    ('LABEL_SMOOTHING', [0, 0.1], [1, 2.5, -1e-9, True]),
    ('TASK_FEATURE_LENGTHS', [{'inputs': 512, 'targets': 128}, {'targets': 1},
                              {'inputs': 2**15, 'targets': 2**15}],
     [{}, {'inputs': 0}, {'inputs': 512, 'targets': -1}, {'inputs': 1.5},
      [512, 128], {1: 512}, None, {'inputs': 2**15 + 1, 'targets': 128},
      {'inputs': 100_000_000, 'targets': 30_000_000}]),
    ('MIXTURE_OR_TASK_NAME', ['ptjf_synth.en', 'x'], [None, '', 3, ['a']]),
    ('MC4_JSON_DIR', [None, '/data/mc4', 'gs://b/mc4'], [5, '', True]),
    (f'{NETWORK}.dtype', ['float32', 'bfloat16', 'float16'],
     ['float17', 'int32', 'float64', '', None, 32]),
    ('DATA_SEED', [None, 0, 42, -3], ['x', 1.5, True]),
    ('RANDOM_SEED', [None, 7], ['7', 0.0]),
    ('HIGH_RESOURCE_RATE', [None, 0.1, 0.5, 0.9], [0, 1, 1.0, -0.5, 'abc', True]),
    ('trainer.Trainer.num_microbatches', [None, 1, 4], [0, -2, 2.0]),
    ('MODEL_PARALLEL_SUBMESH', [None, (1, 1, 1, 1), (1, 1, 8, 1), [2, 2, 1, 2]],
     [(1, 1, 8), (1, 1, 0, 1), (1, 1, -8, 1), (1, 1, 8.0, 1), 8]),
    ('NUM_PARTITIONS', [None, 1, 8], [0, -8, 8.0]),
    *((f'{NETWORK}.{size}', [1, 64], [0, -1, 64.0, True, None])
      for size in ('emb_dim', 'num_heads', 'head_dim', 'mlp_dim',
                   'num_encoder_layers', 'num_decoder_layers', 'vocab_size')),
    ('NUM_LAYERS', [1, 6], [0, -3]),
]


@pytest.mark.parametrize('name, valid, refused', VALUES,
                         ids=[v[0] for v in VALUES])
def test_values_against_their_limits(name, valid, refused):
  for value in valid:
    settings.check(name, value, '--gin=x')
  for value in refused:
    with pytest.raises(recipe.PreflightError, match=r'^--gin=x: .* is .*; it '
                       r'must be '):
      settings.check(name, value, '--gin=x')


def test_a_refusal_names_where_the_value_was_given_and_what_is_valid():
  with pytest.raises(recipe.PreflightError) as error:
    settings.check('LEARNING_RATE', -1, '--gin.LEARNING_RATE=-1')
  assert str(error.value) == ('--gin.LEARNING_RATE=-1: LEARNING_RATE is -1; it '
                              'must be a finite number > 0 (e.g. 5e-3).')


def test_every_spelling_of_a_binding_finds_its_setting():
  emb_dim = settings.find(f'{NETWORK}.emb_dim')
  for name in ('T5Config.emb_dim', 'network.T5Config.emb_dim',
               't5x.examples.t5.network.T5Config.emb_dim',
               'encoder/network.T5Config.emb_dim'):
    assert settings.find(name) is emb_dim
  assert settings.find('NUM_LAYERS').name == f'{NETWORK}.num_encoder_layers'
  assert settings.find('MODEL_PARALLEL_SUBMESH').name == (
      'partitioning.PjitPartitioner.model_parallel_submesh')
  with pytest.raises(KeyError):
    settings.find('MIXTURE_OR_TASK_MODULE')
  settings.check('MIXTURE_OR_TASK_MODULE', 42, '--gin=x')  # not in the table


def test_one_row_per_setting():
  names = [n for s in settings.SETTINGS for n in s.names]
  assert len([s.name for s in settings.SETTINGS]) == len(
      {s.name for s in settings.SETTINGS})
  for setting in settings.SETTINGS:
    assert settings.find(setting.name) is setting
  assert 'NUM_LAYERS' in names  # the one macro that sets two parameters


# (warm-up, steps, fine-tune, cosine, refused)
WARMUPS = [
    (40, 160, True, False, False),
    (159, 160, True, False, False),
    (160, 160, True, False, True),  # all warm-up: never reaches its rate
    (500, 160, True, False, True),
    (0, 160, True, False, True),  # T5X's linear_warmup divides by it
    (10_000, 160, False, False, False),  # rsqrt's constant part, pre-training
    (0, 160, False, False, True),  # rsqrt_decay: 1 / sqrt(max(0, 0))
    (1, 160, False, False, False),
    (0, 100, False, True, False),  # optax: no warm-up, cosine from the peak
    (0, 100, True, True, False),
    (99, 100, False, True, False),
    (100, 100, False, True, True),  # optax: decay_steps 0
    (40_000, 100, False, True, True),
]


@pytest.mark.parametrize('warmup, steps, finetune, cosine, refused', WARMUPS)
def test_warmup_against_its_steps(warmup, steps, finetune, cosine, refused):
  if not refused:
    settings.check_warmup(warmup, steps, 'here', finetune, cosine)
    return
  with pytest.raises(recipe.PreflightError, match=f'^here: WARMUP_STEPS is '
                     f'{warmup}'):
    settings.check_warmup(warmup, steps, 'here', finetune, cosine)


def test_warmup_refusal_says_the_range():
  with pytest.raises(recipe.PreflightError) as error:
    settings.check_warmup(500, 160, "--finetune_gin='WARMUP_STEPS = 500'",
                          True, False)
  assert str(error.value) == (
      "--finetune_gin='WARMUP_STEPS = 500': WARMUP_STEPS is 500, not below "
      'TRAIN_STEPS 160 (a fine-tune must reach its learning rate); it must be '
      'from 1 to 159.')


def test_a_warmup_no_step_count_fits_asks_for_more_steps():
  with pytest.raises(recipe.PreflightError) as error:
    settings.check_warmup(40, 1, "--finetune_gin='TRAIN_STEPS = 1'", True, False)
  assert str(error.value) == (
      "--finetune_gin='TRAIN_STEPS = 1': WARMUP_STEPS is 40, not below "
      'TRAIN_STEPS 1 (a fine-tune must reach its learning rate); TRAIN_STEPS '
      'must be above the warm-up, e.g. TRAIN_STEPS = 41.')
  with pytest.raises(recipe.PreflightError, match='it must be from 0 to 0.$'):
    settings.check_warmup(5, 1, 'here', False, True)  # cosine: 0 still fits


def test_jnp_dtypes_are_valid_as_t5configs_default():
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
    settings.check(f'{NETWORK}.dtype', dtype, 'here')
  with pytest.raises(recipe.PreflightError):
    settings.check(f'{NETWORK}.dtype', jnp.int32, 'here')


def test_a_batch_fits_xlas_int32_indices():
  # 2**31 - 1 tokens: 16,777,215 rows of 128
  settings.check_batch_tokens(16_777_215, {'inputs': 128, 'targets': 29}, 'here')
  for batch in (16_777_216, 2**31, 10**12):
    with pytest.raises(recipe.PreflightError, match=(
        rf'^here: BATCH_SIZE {batch} x inputs length 128 is .* over the '
        r"2,147,483,647 that XLA's int32 indices reach; BATCH_SIZE must be at "
        r'most 16,777,215 with these lengths.$')):
      settings.check_batch_tokens(batch, {'inputs': 128, 'targets': 29}, 'here')
  where = settings.sources([('--gin', 'BATCH_SIZE = 2147483648')], [], 'r.gin')
  with pytest.raises(recipe.PreflightError, match="^--gin='BATCH_SIZE = "):
    settings.check_values({'BATCH_SIZE': 2**31, 'TASK_FEATURE_LENGTHS':
                           {'inputs': 1}}, where, False, False)


def test_microbatches_divide_the_batch():
  for micro, batch in [(1, 7), (4, 16), (4, 1024), (16, 16)]:
    settings.check_microbatches(micro, batch, 'here')
  # the largest divisor of 16 up to 3 is 2; of 30 up to 4, 3
  for micro, batch, instead in [(3, 16, 2), (4, 30, 3), (32, 16, 16)]:
    with pytest.raises(recipe.PreflightError,
                       match=f'^here: num_microbatches is {micro}, which does '
                       f'not divide BATCH_SIZE {batch}.*e.g. {instead}.$'):
      settings.check_microbatches(micro, batch, 'here')


def test_check_values_checks_ranges_then_relations():
  where = lambda s: s.name
  settings.check_values({'TRAIN_STEPS': 160, 'WARMUP_STEPS': 40,
                         'BATCH_SIZE': 16, settings.MICROBATCHES: None},
                        where, finetune=True, cosine_schedule=False)
  with pytest.raises(recipe.PreflightError, match='^BATCH_SIZE: BATCH_SIZE is 0'):
    settings.check_values({'BATCH_SIZE': 0, settings.MICROBATCHES: 3}, where,
                          False, False)
  with pytest.raises(recipe.PreflightError, match='^trainer.Trainer.num_micro'):
    settings.check_values({'BATCH_SIZE': 16, settings.MICROBATCHES: 3}, where,
                          False, False)
  with pytest.raises(recipe.PreflightError, match='^WARMUP_STEPS: WARMUP_STEPS '
                     'is 200, not below TRAIN_STEPS 100'):
    settings.check_values({'TRAIN_STEPS': 100, 'WARMUP_STEPS': 200}, where,
                          False, True)


def test_flag_text_is_the_binding_as_given():
  assert settings.flag_text('--gin', 'LEARNING_RATE=-1') == '--gin.LEARNING_RATE=-1'
  assert settings.flag_text('--finetune_gin', 'WARMUP_STEPS = 500') == (
      "--finetune_gin='WARMUP_STEPS = 500'")
  assert settings.flag_text('--gin', "LEARNING_RATE = 'x'") == (
      '''--gin="LEARNING_RATE = 'x'"''')


def test_sources_the_last_binding_then_gin_files_then_the_recipe(tmp_path):
  mesh = tmp_path / 'mesh.gin'
  mesh.write_text('partitioning.PjitPartitioner:\n  num_partitions = 0\n'
                  'BATCH_SIZE = 3\n')
  where = settings.sources(
      [('--gin', 'LEARNING_RATE = 1'), ('--finetune_gin', 'LEARNING_RATE = -1'),
       ('--gin', 'NUM_LAYERS = 0')],
      [str(mesh)], 'recipes/r.gin', {'TRAIN_STEPS': 'recipes/p.gin'})
  assert where(settings.find('LEARNING_RATE')) == (
      "--finetune_gin='LEARNING_RATE = -1'")
  assert where(settings.find('T5Config.num_decoder_layers')) == (
      "--gin='NUM_LAYERS = 0'")
  assert where(settings.find('BATCH_SIZE')) == f'--gin_file={mesh}'
  assert where(settings.find('NUM_PARTITIONS')) == f'--gin_file={mesh}'
  assert where(settings.find('TRAIN_STEPS')) == 'recipes/p.gin'
  assert where(settings.find('WARMUP_STEPS')) == 'recipes/r.gin'


@pytest.mark.needs_t5x
def test_every_recipe_passes():
  """Each phase of each recipe, parsed with its REQUIRED macros bound, has
  every setting in range (preflight applies the same two checks)."""
  bound = {'HIGH_RESOURCE_RATE': '0.5', 'LEARNING_RATE': '5e-3',
           'WARMUP_STEPS': '10', 'MODEL_DIR': "'/unused'",
           'INITIAL_CHECKPOINT_PATH': "'/unused'"}
  for path in recipe.recipes():
    name = os.path.basename(path)
    restores = experiment.carried(path) == 'parameters'
    required = set(experiment.declared_required(path))
    recipe.parse(path, [f'{m} = {bound[m]}' for m in sorted(required)])
    where = settings.where_in(path)
    settings.check_parsed(where, restores)
    settings.check_model(where)


@pytest.mark.needs_t5x
def test_eval_refuses_a_network_out_of_range(tmp_path):
  import gin  # pylint: disable=g-import-not-at-top
  from ptjf import evaluate  # pylint: disable=g-import-not-at-top
  run_dir = tmp_path / 'pretrain'
  (run_dir / 'checkpoint_10').mkdir(parents=True)
  recipe.parse(os.path.join(recipe.RECIPES_DIR, 'pretrain_synth_mc4_tiny.gin'),
               ['MODEL_DIR = "/unused"', 'network.T5Config.num_heads = 0'])
  (run_dir / 'config.gin').write_text(gin.config_str())  # as T5X writes it
  with pytest.raises(recipe.PreflightError) as error:
    evaluate.plan([str(run_dir)], 'last', 'validation', str(tmp_path))
  assert str(error.value) == (
      f'{run_dir}/config.gin: network.T5Config.num_heads is 0; it must be a '
      'positive integer.')


# config.gin's macros as t5x.train writes them, the hint a divergence gives
HINTS = [
    ('LEARNING_RATE = 0.005\nLEARNING_RATE_SCHEDULE = @optax.warmup_cosine_'
     'decay_schedule()\nTRAIN_STEPS = 100\nWARMUP_STEPS = 0\n',
     'WARMUP_STEPS is 0, so the phase starts at its full learning rate: give '
     'it a warm-up (e.g. WARMUP_STEPS = 10)'),
    ('LEARNING_RATE = 0.05\nLEARNING_RATE_SCHEDULE = @optax.warmup_cosine_'
     'decay_schedule()\nTRAIN_STEPS = 100\nWARMUP_STEPS = 20\n',
     "LEARNING_RATE is 0.05, above the paper's highest (0.0075): lower it"),
    ('TRAIN_STEPS = 160\nWARMUP_STEPS = 4\n',
     "WARMUP_STEPS is 4, so T5X's schedule peaks at a learning rate of "
     '1/sqrt(4) = 0.5: raise it (e.g. WARMUP_STEPS = 25 or more)'),
    ('TRAIN_STEPS = 160\nWARMUP_STEPS = 40\n', 'Lower the learning rate'),
    ('', 'Lower the learning rate'),
]


@pytest.mark.parametrize('config, hint', HINTS)
def test_a_divergence_names_its_likely_knob(config, hint, tmp_path):
  from ptjf import chain  # pylint: disable=g-import-not-at-top
  from ptjf import phase  # pylint: disable=g-import-not-at-top
  (tmp_path / 'config.gin').write_text(
      "# Macros:\nBATCH_SIZE = 16\n" + config +
      'utils.create_learning_rate_scheduler.warmup_steps = %WARMUP_STEPS\n')
  run = phase.PhaseRun(experiment.Phase('ptjf', 'recipes/r.gin'),
                       str(tmp_path), [], 100, {})
  assert chain._diverged(run, 'train loss is nan at step 40', 'L') == (  # pylint: disable=protected-access
      'ptjf diverged: train loss is nan at step 40; t5x.train was stopped. '
      f'{hint}, or check the data and the initial checkpoint; a re-run '
      'resumes from its start (move it aside if it diverged too). Full log: L')


def test_a_relation_names_the_flag_the_user_gave():
  where = settings.sources([('--finetune_gin', 'TRAIN_STEPS = 10')], [],
                           'recipes/r.gin')
  with pytest.raises(recipe.PreflightError, match=r"^--finetune_gin='TRAIN_STEPS "
                     r"= 10': WARMUP_STEPS is 40, not below TRAIN_STEPS 10"):
    settings.check_values({'TRAIN_STEPS': 10, 'WARMUP_STEPS': 40}, where,
                          finetune=True, cosine_schedule=False)
  where = settings.sources([('--gin', 'BATCH_SIZE = 6')], [], 'recipes/r.gin')
  with pytest.raises(recipe.PreflightError, match=r"^--gin='BATCH_SIZE = 6': "
                     'num_microbatches is 4, which does not divide BATCH_SIZE 6'):
    settings.check_values({'BATCH_SIZE': 6, settings.MICROBATCHES: 4}, where,
                          False, False)
