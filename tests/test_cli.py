"""The `ptjf` entry point and the experiments it knows, without T5X (but
for an interrupt inside a recipe's checks)."""

import os
import signal
import subprocess
import sys

import pytest

from ptjf import chain
from ptjf import cli
from ptjf import experiment
from ptjf import recipe


def recipe_file(name):
  return os.path.join(recipe.RECIPES_DIR, name + '.gin')


@pytest.mark.parametrize('name, expected', [
    ('ptjf_mc4_xxl', [('pretrain', 'pretrain_mc4_xxl', None, 'nothing'),
                      ('ptjf', 'ptjf_mc4_xxl', None, 'parameters')]),
    ('transfer_wmt_ro_fr_3layer', [
        ('pretrain', 'pretrain_wmt_ro_fr_3layer', None, 'nothing'),
        ('transfer', 'transfer_wmt_ro_fr_3layer', None, 'parameters')]),
    ('restart_synth_mc4_tiny', [
        ('static', 'static_synth_mc4_tiny', 'pretrain_synth_mc4_tiny', 'nothing'),
        ('restart', 'restart_synth_mc4_tiny', None, 'parameters')]),
    ('static_mc4_xl', [('static', 'static_mc4_xl', None, 'nothing')]),
    ('pretrain_wmt_zh_fr_6layer', [
        ('pretrain', 'pretrain_wmt_zh_fr_6layer', None, 'nothing')]),
])
def test_phases_of_each_arm(name, expected):
  assert experiment.phases(name) == [
      experiment.Phase(arm, recipe_file(r), s and recipe_file(s), carry)
      for arm, r, s, carry in expected]
  assert experiment.phases(recipe_file(name)) == experiment.phases(name)


@pytest.mark.parametrize('name, message', [
    ('ptjf_mc4_xxxl', "unknown experiment 'ptjf_mc4_xxxl': did you mean ptjf_mc4_xxl"),
    ('/nowhere/ptjf_x.gin', "recipe file '/nowhere/ptjf_x.gin' does not exist"),
])
def test_unknown_experiments(name, message):
  with pytest.raises(ValueError, match=message):
    experiment.phases(name)


def test_recipe_outside_the_naming_scheme(tmp_path):
  path = tmp_path / 'mine.gin'
  path.write_text("include 'recipes/ptjf_mc4_xxl.gin'\n")
  with pytest.raises(ValueError, match=r"'mine.gin' is not named <arm>_<data>_<model>"):
    experiment.phases(str(path))


def test_gin_dot_spelling_is_rewritten():
  assert cli.rewrite_gin_args([
      '--gin.LEARNING_RATE=5e-3', "--finetune_gin.HIGH_RESOURCE_RATE=0.3",
      '--pretrain_gin.TRAIN_STEPS=10', '--workdir=/w', '--gin=X = 1']) == [
          '--gin=LEARNING_RATE=5e-3', '--finetune_gin=HIGH_RESOURCE_RATE=0.3',
          '--pretrain_gin=TRAIN_STEPS=10', '--workdir=/w', '--gin=X = 1']


def test_progress_lines_from_t5x_log(capsys):
  progress = chain._Progress(total=160)  # pylint: disable=protected-access
  prefix = 'I1121 22:23:49.592712 1401 logging_writer.py:48] '
  progress.line(prefix + '[20] collection=train accuracy=0.29, loss=4.56, '
                'learning_rate/current=0.0075, z_loss=0.1')
  progress.line(prefix + '[20] collection=training_eval/ptjf_synth.gd '
                'accuracy=0.28, loss=5.5529, loss_per_all_target_tokens=0.01')
  progress.line(prefix + '[20] collection=training_eval/ptjf_synth.en loss=3.4727')
  progress.line('I1121 checkpoint_manager.py:1527] Saving checkpoint at step 80')
  lines = capsys.readouterr().out.splitlines()
  assert lines[0].split() == ['step', '20/160', '(12%)', 'train', 'loss', '4.560',
                              'learning', 'rate', '0.0075']
  assert lines[1].strip() == ('validation loss at step 20: ptjf_synth.en 3.473, '
                              'ptjf_synth.gd 5.553')
  assert lines[2].strip() == 'saving checkpoint_80'


def test_no_command_lists_the_commands(ptjf):
  result = ptjf(subprocess=True)  # python -m ptjf.cli, as a user starts it
  assert result.returncode == 1
  assert all(f'\n  {c} ' in result.stderr for c in cli.COMMANDS)
  assert result.stderr.strip().endswith('error: no command given.')


def test_unknown_command(ptjf):
  result = ptjf('train')
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert "error: unknown command 'train': expected one of run, check, plan, compile, data, sweep, launch, plot, eval." in result.stderr


@pytest.mark.parametrize('command, own_flag', [
    ('run', '--workdir:'), ('check', '--workdir:'), ('plan', '--task_size:'),
    ('compile', '--topology:'), ('data', '--check:')])
def test_help_explains_the_command_and_its_flags(command, own_flag, ptjf):
  result = ptjf(command, '--help')
  assert result.returncode == 0, result.stderr[-1000:]
  assert f'Usage: ptjf {command} EXPERIMENT' in result.stdout
  assert '--gin:' in result.stdout and '--finetune_gin:' in result.stdout
  assert own_flag in result.stdout


@pytest.mark.parametrize('args, message', [
    (['run'], 'give one EXPERIMENT'),
    (['run', 'ptjf_mc4_xxl'], '--workdir is required'),
    (['run', 'a', 'b', '--workdir=/tmp/x'], 'give one EXPERIMENT'),
    (['run', 'ptjf_mc4_xxl', '--workdir=/tmp/x', '--phase=second'], "value should be one of <all|first>"),
    (['plan'], 'give one EXPERIMENT'),
])
def test_usage_errors(args, message, ptjf):
  result = ptjf(*args)
  assert result.returncode != 0 and message in result.stderr
  assert 'Traceback' not in result.stderr


@pytest.mark.needs_t5x
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_in_the_preflight_is_one_line_and_leaves_nothing(
    signum, tmp_path, snapshot, ptjf):
  # A task module that the recipe's checks import, and that waits there.
  (tmp_path / 'slow_tasks.py').write_text(
      "import time\nprint('importing slow_tasks', flush=True)\ntime.sleep(600)\n")
  (tmp_path / 'slow.gin').write_text('import slow_tasks\n')
  (tmp_path / 'tmp').mkdir()  # its temporary files: removed, none left
  before = snapshot(recipe.REPO)
  child = ptjf.start('check', 'ptjf_synth_mc4_tiny', f'--workdir={tmp_path}/w',
                     f'--gin_file={tmp_path}/slow.gin', cwd=tmp_path,
                     env={'TMPDIR': str(tmp_path / 'tmp')}, text=True,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  try:
    assert child.stdout.readline() == 'importing slow_tasks\n'
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
  finally:
    child.kill()
  assert child.returncode == 128 + signum
  assert stderr.strip().splitlines()[-1] == (
      f'error: interrupted by {signal.Signals(signum).name} during the '
      'pre-flight; nothing was written.')
  assert 'Traceback' not in stderr
  assert not os.listdir(tmp_path / 'tmp') and not (tmp_path / 'w').exists()
  assert snapshot(recipe.REPO) == before


def test_native_load_noise_is_dropped_and_the_rest_kept():
  """What TensorFlow's libraries log as they load (written to fd 2 by native
  code, as here by os.write) is dropped; any other line written meanwhile,
  an error included, reaches stderr."""
  script = (
      'import os\nfrom ptjf import cli\n'
      'with cli._quiet_native_load():\n'
      '  os.write(2, b"WARNING: All log messages before absl::InitializeLog() '
      'is called are written to STDERR\\n")\n'
      '  os.write(2, b"I0000 00:00:1796462652.488985   24277 port.cc:153] '
      'oneDNN custom operations are on.\\n")\n'
      '  os.write(2, b"W0000 00:00:1796462652.489427   24277 cudart_stub.cc:31]'
      ' Could not find cuda drivers\\n")\n'
      '  os.write(2, b"E0000 00:00:1796462652.5   24277 x.cc:1] a real error\\n")\n'
      '  os.write(2, b"ImportError: something else\\n")\n')
  result = subprocess.run([sys.executable, '-c', script], cwd=recipe.REPO,
                          capture_output=True, text=True, check=True)
  assert result.stderr == ('E0000 00:00:1796462652.5   24277 x.cc:1] a real '
                           'error\nImportError: something else\n')
