"""Paths reach T5X as the user meant them: a relative --workdir (--root for
sweep), --gin_file, --tfds_data_dir or path given to a --t5x_flag is taken
from where the command was typed, `~` is the home directory
(t5x.train itself starts in the repository), and quotes, backslashes and tabs
in a path arrive unchanged in the gin config."""

import os

import pytest

from ptjf import recipe

TINY = 'ptjf_synth_mc4_tiny'


def test_sweep_root_is_absolute(tmp_path, ptjf):
  relative = ptjf('sweep', 'ptjf_synth_ro_fr_tiny', '--root=rel',
                  '--high_rates=0.3', cwd=tmp_path)
  home = ptjf('sweep', 'ptjf_synth_ro_fr_tiny', '--root=~/s',
              '--high_rates=0.3', env={'HOME': str(tmp_path)})
  assert f'--workdir={tmp_path}/rel/high0.3 --pretrain_dir={tmp_path}/rel/' \
         'pretrain' in relative.stdout, relative.stderr
  assert f'--workdir={tmp_path}/s/high0.3' in home.stdout, home.stderr
  assert os.listdir(tmp_path) == []


@pytest.mark.needs_t5x
def test_check_takes_a_relative_workdir_from_where_it_is_typed(tmp_path, ptjf):
  result = ptjf('check', TINY, '--workdir=relw', cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert f'-> {tmp_path}/relw/pretrain\n' in result.stdout
  assert f'-> {tmp_path}/relw/ptjf\n' in result.stdout
  assert os.listdir(tmp_path) == []


@pytest.mark.needs_t5x
def test_run_expands_the_home_directory(tmp_path, ptjf):
  # refused after the paths are resolved, so nothing trains
  result = ptjf('run', TINY, '--workdir=~/w', '--pretrain_dir=~/w/ptjf',
                env={'HOME': str(tmp_path)})
  assert result.returncode == 1
  assert (f'error: the ptjf directory {tmp_path}/w/ptjf and the pretrain '
          f'directory {tmp_path}/w/ptjf overlap') in result.stderr
  assert not (tmp_path / 'w').exists()


@pytest.mark.needs_t5x
def test_demo_expands_the_home_directory(tmp_path, python_m):
  (tmp_path / 'full').mkdir()
  (tmp_path / 'full' / 'run').write_text('')
  # its --workdir is not ptjf run's, so in a process of its own
  result = python_m('ptjf.demo', '--workdir=~/full', env={'HOME': str(tmp_path)},
                    subprocess=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: --workdir={tmp_path}/full exists and is not an empty directory: '
      'give a new or empty directory (the demo never overwrites runs).')


@pytest.mark.needs_t5x
def test_quotes_backslashes_and_tabs_reach_t5x_unchanged():
  model_dir = '/tmp/a "quoted"\\back\tslash/it\'s'
  initial = model_dir + '/pretrain/checkpoint_160'
  recipe.parse(os.path.join(recipe.RECIPES_DIR, f'{TINY}.gin'), [
      recipe.string_binding('MODEL_DIR', model_dir),
      recipe.string_binding('INITIAL_CHECKPOINT_PATH', initial)])
  assert recipe.value('MODEL_DIR') == model_dir
  assert recipe.value('INITIAL_CHECKPOINT_PATH') == initial


def test_sweep_commands_name_gin_files_and_data_dirs_absolutely(tmp_path, ptjf):
  (tmp_path / 'seed.gin').write_text('DATA_SEED = 1\n')
  result = ptjf('sweep', 'ptjf_synth_ro_fr_tiny', '--root=r', '--high_rates=0.3',
                '--gin_file=seed.gin', '--gin_file=gin/meshes/gpu_host.gin',
                '--tfds_data_dir=~/tfds', cwd=tmp_path,
                env={'HOME': str(tmp_path)})
  assert result.returncode == 0, result.stderr
  assert (f'--gin_file={tmp_path}/seed.gin '
          f'--gin_file={recipe.REPO}/gin/meshes/gpu_host.gin '
          f'--tfds_data_dir={tmp_path}/tfds') in result.stdout
  assert sorted(os.listdir(tmp_path)) == ['seed.gin']


def test_a_gin_file_is_found_where_t5x_train_finds_it(tmp_path, monkeypatch):
  from ptjf import bindings  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  assert bindings.gin_file('gin/meshes/gpu_host.gin') == os.path.join(
      recipe.REPO, 'gin/meshes/gpu_host.gin')
  with pytest.raises(ValueError, match=(
      rf'^--gin_file=later.gin: {tmp_path}/later.gin does not exist')):
    bindings.gin_file('later.gin')
  (tmp_path / 'later.gin').write_text('X = 1\n')
  assert bindings.gin_file('later.gin') == f'{tmp_path}/later.gin'


@pytest.mark.needs_t5x
def test_a_t5x_flags_local_paths_are_made_absolute(tmp_path, monkeypatch):
  from ptjf import run_flags  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  assert run_flags.t5x_flag('--seqio_additional_cache_dirs=a,gs://b/c') == (
      f'--seqio_additional_cache_dirs={tmp_path}/a,gs://b/c')
  assert run_flags.t5x_flag('--multiprocess_gpu') == '--multiprocess_gpu'
  assert run_flags.t5x_flag('--nomultiprocess_gpu') == '--nomultiprocess_gpu'
  assert run_flags.t5x_flag('--process_index=0') == '--process_index=0'
  assert run_flags.t5x_flag('--jax_platforms=cpu') == '--jax_platforms=cpu'


def test_a_gin_file_is_a_regular_file_and_no_recipe(tmp_path):
  from ptjf import bindings  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=(
      '^--gin_file=/dev/null: /dev/null is not a regular file: give a gin file.$')):
    bindings.gin_file('/dev/null')
  mine = tmp_path / 'mine.gin'  # a user's recipe: it includes a phase
  mine.write_text("include 'gin/phases/pretrain.gin'\nTRAIN_STEPS = 3\n")
  for given in ('recipes/ptjf_synth_mc4_tiny.gin', str(mine)):
    with pytest.raises(ValueError, match=(
        rf'^--gin_file={given}: .* is a recipe, not a gin file to add to one: '
        r'give it as the EXPERIMENT')):
      bindings.gin_file(given)
  (tmp_path / 'seed.gin').write_text("include 'gin/meshes/gpu_host.gin'\n")
  assert bindings.gin_file(str(tmp_path / 'seed.gin'))


def test_a_recipe_named_with_gin_is_pointed_to_its_name():
  from ptjf import experiment  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=(
      r"^recipe file 'ptjf_synth_mc4_tiny.gin' does not exist: give the recipe "
      r'name ptjf_synth_mc4_tiny \(or recipes/ptjf_synth_mc4_tiny.gin\).$')):
    experiment.recipe_path('ptjf_synth_mc4_tiny.gin')
  with pytest.raises(ValueError, match=r"^recipe file 'no_such.gin' does not "
                     r'exist.$'):
    experiment.recipe_path('no_such.gin')


def test_a_workdir_leaves_room_for_what_runs_write_below_it(tmp_path):
  from ptjf import experiment  # pylint: disable=g-import-not-at-top
  room = 4096 - experiment.RESERVED_BELOW - len(os.fsencode(str(tmp_path))) - 1
  fits = str(tmp_path) + '/' + '/'.join(['d' * 200] * (room // 201))
  experiment.check_name_lengths(fits, '--workdir')
  with pytest.raises(ValueError, match=(
      r'^--workdir: the path is 40\d\d bytes long; with the 256 bytes its runs '
      'write below it, over the 4096 bytes')):
    experiment.check_name_lengths(str(tmp_path) + '/' + 'd' * 200 + '/' + '/'.join(
        ['e' * 250] * 15), '--workdir')


def test_process_flags_name_a_process_of_the_run():
  from ptjf import run_flags  # pylint: disable=g-import-not-at-top
  for ok in ([], ['--process_count=1'], ['--process_count=2', '--process_index=1'],
             ['--process_index=0']):
    assert run_flags.check_processes(ok) == ok
  for given, message in [
      (['--process_count=0'], r'^--t5x_flag=--process_count=0: the run\'s number '
       'of processes must be at least 1.$'),
      (['--process_count=-2'], '--process_count=-2: '),
      (['--process_count=2', '--process_index=5'],
       r"^--t5x_flag=--process_index=5: this process's index must be from 0 to "
       r'1 \(--process_count=2 less 1\).$'),
      (['--process_index=-1'], 'index must be at least 0.$')]:
    with pytest.raises(ValueError, match=message):
      run_flags.check_processes(given)
