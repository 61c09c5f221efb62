"""ptjf sweep: which runs the paper's grids make, their bindings and files."""

import collections
import itertools
import os
import shlex
import subprocess
import sys

from absl import flags
from absl.testing import flagsaver
import pytest
import seqio

from mixtures import registry
from ptjf import experiment
from ptjf import recipe
from ptjf import sweep

LRS = ('0.00025', '0.0005', '0.0025', '0.005', '0.0075')
HIGHS = ('0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9')
WARMUPS = ('10000', '20000', '30000', '40000')


def commands(name, root='/r', extra=experiment.PassThrough({}), **given):
  """The printed `ptjf run` commands of a sweep, parsed back as bash would."""
  phases = experiment.phases(name)
  plan = sweep.plan(name, phases, root,
                    sweep.dimensions(name, phases, given, extra))
  lines = sweep.commands_text(plan, extra).splitlines()
  return [shlex.split(line) for line in lines if not line.startswith('#')]


def flag_values(argv):
  """{'--gin': [...], ...} of a parsed `ptjf run` command."""
  assert argv[:2] == ['ptjf', 'run']
  values = collections.defaultdict(list)
  for arg in argv[3:]:
    name, _, value = arg.partition('=')
    values[name].append(value)
  return values


def split(cmds):
  firsts = [flag_values(c) for c in cmds if '--phase=first' in c]
  points = [flag_values(c) for c in cmds if '--phase=first' not in c]
  return firsts, points


def test_ptjf_ro_fr_shares_one_pretraining_per_learning_rate():
  cmds = commands('ptjf_wmt_ro_fr_3layer')
  assert all(c[2] == 'ptjf_wmt_ro_fr_3layer' for c in cmds)
  firsts, points = split(cmds)
  assert len(firsts) == 5 and len(points) == 5 * 9 * 4
  assert cmds[:5] == [['ptjf', 'run', 'ptjf_wmt_ro_fr_3layer', '--phase=first',
                       f'--workdir=/r/lr{lr}', f'--gin=LEARNING_RATE={lr}']
                      for lr in LRS]
  grid = set()
  for p in points:
    assert set(p) == {'--workdir', '--pretrain_dir', '--gin', '--finetune_gin'}
    (lr,) = [b.split('=')[1] for b in p['--gin']]
    assert p['--gin'] == [f'LEARNING_RATE={lr}']
    high, warmup = p['--finetune_gin']
    assert high.startswith('HIGH_RESOURCE_RATE=')
    assert warmup.startswith('WARMUP_STEPS=')
    assert p['--pretrain_dir'] == [f'/r/lr{lr}/pretrain']
    grid.add((lr, high.split('=')[1], warmup.split('=')[1]))
  assert grid == set(itertools.product(LRS, HIGHS, WARMUPS))
  workdirs = [p['--workdir'][0] for p in points]
  assert len(set(workdirs)) == len(workdirs)
  assert '/r/lr0.005/high0.3_warmup20000' in workdirs


def test_zh_fr_recipe_fixes_the_warmup():
  firsts, points = split(commands('ptjf_wmt_zh_fr_3layer'))
  assert (len(firsts), len(points)) == (5, 45)
  assert all(len(p['--finetune_gin']) == 1 and
             p['--finetune_gin'][0].startswith('HIGH_RESOURCE_RATE=')
             for p in points)
  assert {p['--workdir'][0] for p in points} >= {'/r/lr0.005/high0.7'}


def test_restart_static_base_trains_at_the_rate_and_learning_rate():
  firsts, points = split(commands('restart_wmt_ro_fr_3layer'))
  assert (len(firsts), len(points)) == (45, 180)
  assert {tuple(f['--gin']) for f in firsts} == {
      (f'LEARNING_RATE={lr}', f'HIGH_RESOURCE_RATE={h}')
      for lr, h in itertools.product(LRS, HIGHS)}
  assert all('--finetune_gin' not in f for f in firsts)
  point = next(p for p in points
               if p['--workdir'] == ['/r/lr0.005_high0.3/warmup20000'])
  assert point['--pretrain_dir'] == ['/r/lr0.005_high0.3/static']
  assert point['--gin'] == ['LEARNING_RATE=0.005', 'HIGH_RESOURCE_RATE=0.3']
  assert point['--finetune_gin'] == ['WARMUP_STEPS=20000']


def test_restart_without_fine_tune_axis_runs_both_phases_per_point():
  firsts, points = split(commands('restart_wmt_zh_fr_3layer', root='gs://b/s'))
  assert (len(firsts), len(points)) == (0, 45)
  assert all('--pretrain_dir' not in p for p in points)
  assert points[0]['--workdir'] == ['gs://b/s/lr0.00025_high0.1']


def test_static_mc4_sweeps_the_registered_temperature_mixtures():
  firsts, points = split(commands('static_mc4_xxl'))
  assert firsts == []
  names = [registry.mixture_name('ptjf_mc4', 'tau', t) for t in (1.43, 2, 3.33, 5)]
  assert [p['--gin'] for p in points] == [
      [f'MIXTURE_OR_TASK_NAME="{n}"'] for n in names]
  assert [p['--workdir'][0] for p in points] == [
      '/r/tau1.43', '/r/tau2', '/r/tau3.33', '/r/tau5']
  for name in names:
    assert name in seqio.MixtureRegistry.names()


def test_ptjf_mc4_sweeps_the_fine_tune_temperature_only():
  firsts, points = split(commands('ptjf_mc4_xxl', taus=['3.33', '5']))
  assert firsts == [{'--phase': ['first'], '--workdir': ['/r']}]
  assert [p['--finetune_gin'] for p in points] == [
      ['MIXTURE_OR_TASK_NAME="ptjf_mc4.tau3.33"'],
      ['MIXTURE_OR_TASK_NAME="ptjf_mc4.tau5"']]
  assert commands('ptjf_mc4_xxl', taus=['none']) == [
      ['ptjf', 'run', 'ptjf_mc4_xxl', '--workdir=/r']]


def test_synth_pair_with_two_rates_prints_one_pretraining_then_two():
  phases = experiment.phases('ptjf_synth_ro_fr_tiny')
  dims = sweep.dimensions('ptjf_synth_ro_fr_tiny', phases,
                          {'high_rates': ['0.3', '0.7']})
  plan = sweep.plan('ptjf_synth_ro_fr_tiny', phases, '/tmp/sw', dims)
  assert sweep.commands_text(plan, experiment.PassThrough({})).splitlines() == [
      '# ptjf sweep ptjf_synth_ro_fr_tiny: 2 HIGH_RESOURCE_RATE',
      '# 1 pretrain run (--phase=first), shared by the ptjf runs below',
      'ptjf run ptjf_synth_ro_fr_tiny --phase=first --workdir=/tmp/sw',
      '# 2 ptjf runs from /tmp/sw/pretrain',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/high0.3 '
      '--pretrain_dir=/tmp/sw/pretrain --finetune_gin=HIGH_RESOURCE_RATE=0.3',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/high0.7 '
      '--pretrain_dir=/tmp/sw/pretrain --finetune_gin=HIGH_RESOURCE_RATE=0.7']


def test_single_phase_experiments():
  assert commands('pretrain_mc4_xxl') == [
      ['ptjf', 'run', 'pretrain_mc4_xxl', '--workdir=/r']]
  cmds = commands('pretrain_wmt_ro_fr_3layer', learning_rates=['5e-3', '7.5e-3'])
  assert cmds == [['ptjf', 'run', 'pretrain_wmt_ro_fr_3layer',
                   f'--workdir=/r/lr{lr}', f'--gin=LEARNING_RATE={lr}']
                  for lr in ('0.005', '0.0075')]
  firsts, points = split(commands('static_wmt_hi_fr_6layer'))
  assert (len(firsts), len(points)) == (0, 45)


def test_paper_rate_grid_is_the_registry_pair_grid():
  assert tuple(map(float, sweep.HIGH_RATES)) == registry.PAIR_GRID


def test_pass_through_flags_reach_every_command():
  extra = experiment.PassThrough(
      {'gin': ['NUM_PARTITIONS = 1'], 'pretrain_gin': ['TRAIN_STEPS=10'],
       'finetune_gin': ["EVAL_NAME='a b'"]},
      ['gin/meshes/gpu_host.gin'], 'gs://b/tfds')
  cmds = commands('ptjf_synth_ro_fr_tiny', extra=extra, high_rates=['0.5'])
  assert len(cmds) == 2
  for c in cmds:
    values = flag_values(c)
    assert values['--gin'] == ['NUM_PARTITIONS = 1']
    assert values['--pretrain_gin'] == ['TRAIN_STEPS=10']
    assert values['--gin_file'] == ['gin/meshes/gpu_host.gin']
    assert values['--tfds_data_dir'] == ['gs://b/tfds']
  # ptjf run refuses --finetune_gin with --phase=first: the fine-tune gets it.
  assert '--finetune_gin' not in flag_values(cmds[0])
  assert flag_values(cmds[1])['--finetune_gin'] == [
      'HIGH_RESOURCE_RATE=0.5', "EVAL_NAME='a b'"]


def test_two_runs_never_train_one_directory():
  phases = experiment.phases('static_synth_ro_fr_tiny')
  axis = sweep.AXES[1]
  twice = sweep.Dimension(axis, 'gin', (('high0.3', 'HIGH_RESOURCE_RATE=0.3'),
                                        ('high0.3', 'HIGH_RESOURCE_RATE=0.30')))
  with pytest.raises(AssertionError, match='train one directory'):
    sweep.plan('static_synth_ro_fr_tiny', phases, '/r', [twice])


def _sweep(*args, env=None):
  return subprocess.run([sys.executable, '-m', 'ptjf.cli', 'sweep', *args],
                        cwd=recipe.REPO, capture_output=True, text=True,
                        check=False, env=dict(os.environ, **(env or {})))


def read(path):
  with open(path) as f:
    return f.read()


def test_gin_files_restore_the_final_pretraining_checkpoint(tmp_path):
  root = str(tmp_path / 'sw')
  result = _sweep('ptjf_wmt_ro_fr_3layer', f'--root={root}', '--format=gin',
                  '--learning_rates=5e-3', '--high_rates=0.3,0.7',
                  '--warmups=20000')
  assert result.returncode == 0, result.stderr
  pretrain = f'{root}/lr0.005/pretrain.gin'
  finetunes = [f'{root}/lr0.005/high{h}_warmup20000/ptjf.gin' for h in (0.3, 0.7)]
  assert sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                for f in fs) == sorted([pretrain, *finetunes])
  command = (f'python -m t5x.train --gin_search_paths={recipe.REPO} '
             f'--gin_file={recipe.RECIPES_DIR}/ptjf_wmt_ro_fr_3layer.gin '
             f'--gin_file={finetunes[0]}')
  assert read(finetunes[0]).splitlines() == [
      '# The ptjf phase of `ptjf sweep ptjf_wmt_ro_fr_3layer`; train it with:',
      f'# {command}',
      f'MODEL_DIR = "{root}/lr0.005/high0.3_warmup20000/ptjf"',
      f'INITIAL_CHECKPOINT_PATH = "{root}/lr0.005/pretrain/checkpoint_400000"',
      'LEARNING_RATE = 0.005',
      'HIGH_RESOURCE_RATE = 0.3',
      'WARMUP_STEPS = 20000']
  assert read(pretrain).splitlines()[2:] == [
      f'MODEL_DIR = "{root}/lr0.005/pretrain"', 'LEARNING_RATE = 0.005']
  assert command in result.stdout.splitlines()
  assert all(f in result.stdout for f in finetunes)


def test_restart_static_gin_file_runs_the_pretraining_steps(tmp_path):
  root = str(tmp_path)
  result = _sweep('restart_wmt_ro_fr_3layer', f'--root={root}', '--format=gin',
                  '--learning_rates=5e-3', '--high_rates=0.3', '--warmups=10000')
  assert result.returncode == 0, result.stderr
  static = read(f'{root}/lr0.005_high0.3/static.gin').splitlines()
  assert static[2:] == [f'MODEL_DIR = "{root}/lr0.005_high0.3/static"',
                        'TRAIN_STEPS = 400000', 'LEARNING_RATE = 0.005',
                        'HIGH_RESOURCE_RATE = 0.3']
  assert 'recipes/static_wmt_ro_fr_3layer.gin' in static[1]
  restart = read(f'{root}/lr0.005_high0.3/warmup10000/restart.gin')
  assert (f'INITIAL_CHECKPOINT_PATH = "{root}/lr0.005_high0.3/static/'
          'checkpoint_400000"') in restart.splitlines()
  assert 'TRAIN_STEPS' not in restart


def test_a_train_steps_binding_moves_the_checkpoint(tmp_path):
  result = _sweep('ptjf_synth_ro_fr_tiny', f'--root={tmp_path}', '--format=gin',
                  '--high_rates=0.5', '--pretrain_gin=TRAIN_STEPS = 40')
  assert result.returncode == 0, result.stderr
  assert 'TRAIN_STEPS = 40' in read(f'{tmp_path}/pretrain.gin').splitlines()
  assert (f'INITIAL_CHECKPOINT_PATH = "{tmp_path}/pretrain/checkpoint_40"'
          in read(f'{tmp_path}/high0.5/ptjf.gin').splitlines())


def test_gin_files_are_never_overwritten(tmp_path):
  args = ('ptjf_synth_ro_fr_tiny', f'--root={tmp_path}', '--format=gin')
  assert _sweep(*args).returncode == 0
  (tmp_path / 'high0.5' / 'ptjf.gin').write_text('mine\n')
  again = _sweep(*args)
  assert again.returncode != 0
  assert again.stderr.strip().startswith('error: ')
  assert 'already exists' in again.stderr and 'Traceback' not in again.stderr
  assert (tmp_path / 'high0.5' / 'ptjf.gin').read_text() == 'mine\n'


@pytest.mark.skipif(bool(recipe.t5x_missing()), reason=recipe.t5x_missing())
@pytest.mark.parametrize('args', [
    ['restart_wmt_ro_fr_3layer', '--learning_rates=5e-3', '--high_rates=0.3',
     '--warmups=10000'],
    ['ptjf_mc4_xxl', '--taus=2']])
def test_gin_files_leave_nothing_required_under_t5x(tmp_path, args):
  result = _sweep(*args, f'--root={tmp_path}', '--format=gin')
  assert result.returncode == 0, result.stderr
  for path in (os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs):
    command = shlex.split(read(path).splitlines()[1][2:])
    gin_files = [a.split('=', 1)[1] for a in command if a.startswith('--gin_file=')]
    recipe.parse(gin_files[0], more_gin_files=gin_files[1:], finalize=False)
    assert recipe.unbound_required() == []
    assert recipe.value('MODEL_DIR') == path[:-len('.gin')]


@pytest.mark.parametrize('args, message', [
    (['ptjf_nope'], "unknown experiment 'ptjf_nope'"),
    ([], 'give one EXPERIMENT'),
    (['ptjf_mc4_xxl', 'static_mc4_xxl'], 'got 2: ptjf_mc4_xxl static_mc4_xxl'),
    (['ptjf_mc4_xxl', '--root='], '--root is required'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0.3,1'], '--high_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0'], '--high_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=0'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=fast'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=inf'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups=2.5e3'], '--warmups'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups=-10'], '--warmups'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups='], 'at least one value'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0.5,0.50'], 'distinct'),
    (['static_mc4_xxl', '--taus=0'], '--taus'),
    (['ptjf_wmt_zh_fr_3layer', '--warmups=10000'],
     '--warmups: ptjf_wmt_zh_fr_3layer does not take WARMUP_STEPS'),
    (['pretrain_mc4_xxl', '--learning_rates=5e-3'],
     '--learning_rates: pretrain_mc4_xxl does not take LEARNING_RATE'),
    (['ptjf_wmt_ro_fr_3layer', '--taus=2'],
     "--taus: ptjf_wmt_ro_fr_3layer does not take a '<prefix>.tau<t>' mixture"),
    (['ptjf_wmt_ro_fr_3layer', '--gin=LEARNING_RATE = 1e-3'],
     'use --learning_rates'),
    (['static_mc4_xxl', '--pretrain_gin=TRAIN_STEPS=5'], 'has one phase'),
    (['ptjf_mc4_xxl', "--gin=MODEL_DIR='/x'"], 'MODEL_DIR is set by ptjf run'),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
  root = tmp_path / 'out'
  root_flag = [] if any(a.startswith('--root') for a in args) else [f'--root={root}']
  result = _sweep(*args, *root_flag, '--format=gin')
  assert result.returncode != 0
  assert result.stdout == ''
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  assert message in lines[0]
  assert not root.exists()


def test_help_is_the_module_docstring():
  result = _sweep('--help')  # absl exits 1 after printing help
  assert 'ptjf sweep EXPERIMENT --root=DIR' in result.stdout
  assert '--learning_rates' in result.stdout


def test_run_runs_each_command_and_stops_at_the_first_failure(
    tmp_path, monkeypatch, capsys):
  calls = []

  class FakeRun:
    """A `ptjf run` that exits at once; the third fails."""

    def __init__(self, argv, cwd):
      calls.append((argv, cwd))
      self.status = 0 if len(calls) < 3 else 3

    def __enter__(self):
      return self

    def __exit__(self, *_):
      pass

    def wait(self):
      return self.status

  monkeypatch.setattr(sweep.subprocess, 'Popen', FakeRun)
  with flagsaver.flagsaver():
    argv = flags.FLAGS(['ptjf sweep', 'ptjf_synth_ro_fr_tiny', '--run',
                        f'--root={tmp_path}', '--high_rates=0.2,0.4,0.6'])
    with pytest.raises(SystemExit) as exit_info:
      sweep.main(argv)
  assert exit_info.value.code == 3
  assert [c[1] for c in calls] == [recipe.REPO] * 3
  assert [c[0][:4] for c in calls] == [[sys.executable, '-m', 'ptjf.cli', 'run']] * 3
  assert calls[0][0][4:] == ['ptjf_synth_ro_fr_tiny', '--phase=first',
                             f'--workdir={tmp_path}']
  assert calls[2][0][5:7] == [f'--workdir={tmp_path}/high0.4',
                              f'--pretrain_dir={tmp_path}/pretrain']
  out, err = capsys.readouterr()
  assert '[1/4] ptjf run ptjf_synth_ro_fr_tiny --phase=first' in out
  assert '[4/4]' not in out
  assert 'exit status 3' in err and f'--workdir={tmp_path}/high0.4' in err
