"""`ptjf plot`: run discovery, point choice, Pareto fronts, files and errors."""

import csv
import os
import re
import resource
import signal
import subprocess

from matplotlib import colors
import pytest

from ptjf import front
from ptjf import runs as runs_lib

HIGH, LOW = 'syn.high', 'syn.low'
MACROS = f"    HIGH_RESOURCE_TASK = '{HIGH}'\n    LOW_RESOURCE_TASK = '{LOW}'\n"
# Run -> task -> {step: loss}; all values exact in float32. Hand-worked:
#   final: a/ptjf (20; 1.0, 3.0)  b/ptjf (20; 1.25, 2.25)
#          c/static (20; 1.5, 2.75) (step 30 has no low)  d/static (20; 3.0, 3.0)
#   best:  a/ptjf moves to (10; 1.5, 2.0); the others stay.
#   lr/pretrain evaluates only the high task.
SWEEP = {
    'a/ptjf': {HIGH: {10: 1.5, 20: 1.0}, LOW: {10: 2.0, 20: 3.0},
               'syn.mix': {10: 2.0, 20: 2.0}},
    'b/ptjf': {HIGH: {10: 2.0, 20: 1.25}, LOW: {10: 2.5, 20: 2.25}},
    'c/static': {HIGH: {10: 1.75, 20: 1.5, 30: 0.5}, LOW: {10: 3.0, 20: 2.75}},
    'd/static': {HIGH: {20: 3.0}, LOW: {20: 3.0}},
    'lr/pretrain': {HIGH: {10: 0.5, 20: 0.25}},
}
# (run, step, high, low, pareto, pareto_all), sorted by method then high.
FINAL = [('a/ptjf', 20, 1.0, 3.0, True, True),
         ('b/ptjf', 20, 1.25, 2.25, True, True),
         ('c/static', 20, 1.5, 2.75, True, False),  # b dominates it
         ('d/static', 20, 3.0, 3.0, False, False)]
BEST = [('b/ptjf', 20, 1.25, 2.25, True, True),
        ('a/ptjf', 10, 1.5, 2.0, True, True),
        ('c/static', 20, 1.5, 2.75, True, False),  # a: equal x, lower y
        ('d/static', 20, 3.0, 3.0, False, False)]


def make_run(write_events, run_dir, tasks, config=None):
  """A T5X-like run: real event files under training_eval/<task>."""
  for task, losses in tasks.items():
    write_events(os.path.join(run_dir, 'training_eval', task), {'loss': losses})
  if config is not None:
    with open(os.path.join(run_dir, 'config.gin'), 'w') as f:
      f.write(config)


@pytest.fixture(scope='module')
def sweep(tmp_path_factory, write_events):
  root = tmp_path_factory.mktemp('sweep')
  for name, tasks in SWEEP.items():
    # Two runs say which tasks they compare, as pair.gin recipes do.
    config = MACROS if name in ('a/ptjf', 'c/static') else 'BATCH_SIZE = 8\n'
    make_run(write_events, str(root / name), tasks, config)
  (root / 'notes').mkdir()  # a directory without runs is passed over
  return str(root)


def expected(root, table):
  return [(os.path.join(root, run), step, high, low, pareto, pareto_all)
          for run, step, high, low, pareto, pareto_all in table]


def as_tuples(points):
  return [(p.run_dir, p.step, p.high, p.low, p.pareto, p.pareto_all)
          for p in points]


def test_pareto_mask_by_hand():
  points = [(1, 5), (2, 3), (2, 3), (3, 1), (3, 3), (2, 4), (1, 5), (4, 1)]
  # (2,3) twice and (1,5) twice: equal points don't dominate each other.
  # (3,3) and (2,4) fall to (2,3); (4,1) falls to (3,1) on x alone.
  assert front.pareto_mask(points) == [True, True, True, True, False, False,
                                      True, False]
  assert front.pareto_mask([]) == []
  assert front.pareto_mask([(7, 7)]) == [True]
  assert front.pareto_mask([(1, 1), (float('nan'), 0)]) == [True, False]


def test_find_runs_recurses_and_keeps_named_runs(sweep):
  found = runs_lib.find_runs([sweep])
  assert found == {os.path.join(sweep, r): False for r in sorted(SWEEP)}
  named = os.path.join(sweep, 'a', 'ptjf')
  assert runs_lib.find_runs([named + '/', sweep])[named] is True


def test_final_points_and_fronts(sweep, capsys):
  points, high, low = front.collect([sweep])  # tasks from config.gin
  assert (high, low) == (HIGH, LOW)
  assert as_tuples(points) == expected(sweep, FINAL)
  assert [p.method for p in points] == ['ptjf', 'ptjf', 'static', 'static']
  note = capsys.readouterr().out
  assert (f"note: skipped {os.path.join(sweep, 'lr', 'pretrain')}: {LOW} was "
          f'not evaluated (it evaluated {HIGH}).') in note


def test_best_points(sweep):
  points, _, _ = front.collect([sweep], HIGH, LOW, point='best')
  assert as_tuples(points) == expected(sweep, BEST)


def test_measure_reads_one_run(sweep):
  run = os.path.join(sweep, 'c', 'static')
  point = front.measure(run, HIGH, LOW)
  assert (point.method, point.step, point.high, point.low) == (
      'static', 20, 1.5, 2.75)
  with pytest.raises(front.MissingSummaries, match="its syn.high evaluations have no 'accuracy' scalar"):
    front.measure(run, HIGH, LOW, metric='accuracy')


def test_flags_override_config_and_swap_axes(sweep):
  points, high, low = front.collect([sweep], high_task=LOW, low_task=HIGH)
  assert (high, low) == (LOW, HIGH)
  assert {(p.method, p.high, p.low) for p in points} == {
      ('ptjf', 3.0, 1.0), ('ptjf', 2.25, 1.25), ('static', 2.75, 1.5),
      ('static', 3.0, 3.0)}


def test_configs_that_disagree_need_the_flag(tmp_path, write_events):
  make_run(write_events, str(tmp_path / 'x' / 'ptjf'),
           {HIGH: {1: 1.0}, LOW: {1: 1.0}}, MACROS)
  make_run(write_events, str(tmp_path / 'y' / 'ptjf'),
           {HIGH: {1: 1.0}, LOW: {1: 1.0}}, MACROS.replace(HIGH, 'syn.other'))
  with pytest.raises(ValueError, match='disagree on HIGH_RESOURCE_TASK'):
    front.collect([str(tmp_path)])
  points, high, _ = front.collect([str(tmp_path)], high_task=HIGH)
  assert high == HIGH and len(points) == 2


def test_figure_draws_each_run_and_each_front(sweep):
  points, high, low = front.collect([sweep])
  fig = front.draw(points, high, low)
  ax = fig.axes[0]
  markers = {c.get_label(): c for c in ax.collections}
  assert sorted(markers) == ['ptjf', 'static']
  for method, collection in markers.items():
    runs = [p for p in points if p.method == method]
    assert collection.get_offsets().tolist() == [[p.high, p.low] for p in runs]
    assert tuple(collection.get_facecolor()[0]) == colors.to_rgba(
        runs_lib.METHOD_COLOURS[method])
  fronts = {line.get_gid(): line.get_xydata().tolist() for line in ax.lines}
  assert fronts == {'ptjf': [[1.0, 3.0], [1.25, 2.25]],
                    'static': [[1.5, 2.75]]}  # d/static is dominated
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ['ptjf',
                                                                 'static']
  assert ax.get_xlabel() == f'{HIGH} loss (high-resource)'
  assert 'final evaluation' in ax.get_title()


def test_method_colours_are_stable():
  assert runs_lib.method_colours(['static', 'zeta', 'alpha']) == {
      'alpha': runs_lib.EXTRA_COLOURS[0], 'static': 'tab:blue',
      'zeta': runs_lib.EXTRA_COLOURS[1]}
  assert runs_lib.method_colours(['ptjf'])['ptjf'] == runs_lib.METHOD_COLOURS['ptjf']


def test_command_writes_png_and_csv(sweep, tmp_path, ptjf):
  prefix = tmp_path / 'out' / 'fronts'
  result = ptjf('plot', sweep, f'--output={prefix}', '--point=best')
  assert result.returncode == 0, result.stderr
  assert 'note: skipped' in result.stdout and 'lr/pretrain' in result.stdout
  assert f'wrote {prefix}.png' in result.stdout
  assert f'wrote {prefix}.csv' in result.stdout
  png = (tmp_path / 'out' / 'fronts.png').read_bytes()
  assert png.startswith(b'\x89PNG\r\n\x1a\n') and len(png) > 10_000
  with open(f'{prefix}.csv', newline='') as f:
    rows = list(csv.reader(f))
  assert rows[0] == ['run_dir', 'method', 'step', 'high_task', 'high_loss',
                     'low_task', 'low_loss', 'pareto', 'pareto_all']
  assert [(r[0], int(r[2]), float(r[4]), float(r[6]), r[7], r[8])
          for r in rows[1:]] == [
              (run, step, high, low, str(a).lower(), str(b).lower())
              for run, step, high, low, a, b in expected(sweep, BEST)]
  assert {(r[1], r[3], r[5]) for r in rows[1:]} == {('ptjf', HIGH, LOW),
                                                    ('static', HIGH, LOW)}


@pytest.mark.parametrize('args, message', [
    (['{root}/nowhere'], "no T5X evaluation summaries (training_eval/) were "
     "found below '{root}/nowhere' (it does not exist)"),
    (['{root}/notes'], "no T5X evaluation summaries (training_eval/) were "
     "found below '{root}/notes'."),
    (['{root}', '--high_task=syn.hgih'], "--high_task 'syn.hgih' was not "
     'evaluated by any run; the tasks evaluated are: syn.high, syn.low, '
     'syn.mix.'),
    (['{root}/a/ptjf', '{root}/lr/pretrain'], 'error: {root}/lr/pretrain: '
     'syn.low was not evaluated (it evaluated syn.high)'),
    ([], 'error: no run directory given'),
], ids=['missing_path', 'no_summaries', 'unknown_high_task',
        'named_run_lacks_low_task', 'no_run_dir'])
def test_bad_arguments_fail_cleanly_and_write_nothing(sweep, tmp_path, args,
                                                      message, ptjf):
  result = ptjf('plot', *[a.format(root=sweep) for a in args],
                f'--output={tmp_path}/out', cwd=tmp_path)
  assert result.returncode != 0
  assert message.format(root=sweep) in result.stderr
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert not os.listdir(tmp_path)


def test_missing_task_names_need_flags(tmp_path, write_events):
  make_run(write_events, str(tmp_path / 'static'),
           {'t.one': {5: 1.0}, 't.two': {5: 2.0}})
  with pytest.raises(ValueError, match='no --high_task given and no '
                     'HIGH_RESOURCE_TASK .* evaluated: t.one, t.two'):
    front.collect([str(tmp_path)])


def test_without_kind_or_output_it_prints_what_suits_the_runs_and_writes_nothing(
    sweep, tmp_path, write_events, snapshot, ptjf):
  # Runs of no pair, as the demo's: their curves, and the best of each task.
  runs = tmp_path / 'runs'
  make_run(write_events, str(runs / 'ptjf'), {'t.one': {5: 1.0, 10: 0.5},
                                              't.two': {5: 2.0, 10: 2.5}})
  before = snapshot(tmp_path)
  result = ptjf('plot', str(runs), cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0] == '2 curve(s) of 2 task(s); the best of each:'
  assert ' 0.5' in result.stdout and ' 2.0' in result.stdout
  assert lines[-1] == ('nothing written: --output=PREFIX (or a directory) '
                       'writes the curves as PREFIX.png and PREFIX.csv.')
  assert snapshot(tmp_path) == before
  # Runs of a pair: the trade-off front.
  result = ptjf('plot', sweep, cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert 'pareto' in result.stdout
  assert result.stdout.splitlines()[-1].endswith('writes the front as '
                                                 'PREFIX.png and PREFIX.csv.')
  assert snapshot(tmp_path) == before


def damage(task_dir, how, write_events):
  """A damaged event file beside the task's good one: random bytes, one cut
  in its last record (step 30 whole, step 40 cut), an empty one, or a
  directory of that name; returns its path."""
  bad = task_dir / f'events.out.tfevents.{how}'
  if how == 'directory':
    bad.mkdir()
  elif how == 'truncated':
    write_events(task_dir / 'cut', {'loss': {30: 0.125, 40: 0.0625}})
    (whole,) = (task_dir / 'cut').iterdir()
    bad.write_bytes(whole.read_bytes()[:-7])
    whole.unlink()
    (task_dir / 'cut').rmdir()
  else:
    bad.write_bytes({'random': bytes(range(256)) * 2, 'empty': b''}[how])
  return str(bad)


@pytest.mark.parametrize('kind', ['front', 'curves', 'best'])
def test_damaged_event_files_are_skipped_with_a_warning(kind, tmp_path,
                                                        write_events, ptjf):
  runs = tmp_path / 'runs'
  for name in ('a/ptjf', 'c/static'):
    make_run(write_events, str(runs / name), SWEEP[name], MACROS)
  damaged = [damage(runs / 'a/ptjf/training_eval' / LOW, 'truncated', write_events),
             damage(runs / 'a/ptjf/training_eval' / HIGH, 'random', write_events),
             damage(runs / 'c/static/training_eval' / LOW, 'empty', write_events),
             damage(runs / 'c/static/training_eval' / HIGH, 'directory',
                    write_events)]
  prefix = tmp_path / 'out' / kind
  result = ptjf('plot', str(runs), f'--kind={kind}', f'--output={prefix}')
  assert result.returncode == 0, result.stderr
  assert 'Traceback' not in result.stderr
  # once per file; the cut one's file_version and step 30 are whole
  warnings = sorted(re.sub(r'byte \d+', 'byte N', l)
                    for l in result.stderr.splitlines() if l.startswith('warning:'))
  assert warnings == sorted([
      f'warning: {damaged[0]}: truncated at byte N; read its first 2 '
      'record(s), skipped the rest.',
      f'warning: {damaged[1]}: corrupt at byte N; skipped.',
      f'warning: {damaged[2]}: it is empty; skipped.',
      f'warning: {damaged[3]}: it is a directory, not an event file; skipped.'])
  with open(f'{prefix}.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  if kind == 'front':  # a's low task was evaluated at step 30 too, high was not
    assert {(r['method'], r['step']) for r in rows} == {('ptjf', '20'),
                                                        ('static', '20')}
  elif kind == 'curves':  # the truncated file's whole record is read
    low = sorted(int(r['step']) for r in rows
                 if r['task'] == LOW and r['method'] == 'ptjf')
    assert low == [10, 20, 30]
  else:
    assert {r['best'] for r in rows if r['task'] == LOW} == {'0.125', '2.75'}


def test_no_readable_event_file_is_one_error(tmp_path, write_events, snapshot,
                                             ptjf):
  task_dir = tmp_path / 'runs' / 'ptjf' / 'training_eval' / HIGH
  task_dir.mkdir(parents=True)
  for how in ('random', 'empty'):
    damage(task_dir, how, write_events)
  before = snapshot(tmp_path)
  result = ptjf('plot', str(tmp_path / 'runs'), f'--output={tmp_path}/out')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'error: none of the 2 evaluation event file(s) of 1 run(s) can be read '
      '(each is named above): nothing is left to show.')
  assert 'Traceback' not in result.stderr
  assert snapshot(tmp_path) == before


@pytest.mark.parametrize('output, message', [
    ('{d}/afile/x.png', '{d}/afile is a file, so {d}/afile/x.png cannot be '
     'created under it: give a path in a directory.'),
    ('{d}/afile/deeper/x', '{d}/afile is a file, so {d}/afile/deeper/x.png '
     'cannot be created under it'),
    ('{d}/taken', '{d}/taken.png is a directory: give the path of a file to '
     'write.'),
    ('{d}/taken.csv', '{d}/taken.png is a directory'),
], ids=['under_a_file', 'deep_under_a_file', 'png_is_a_directory',
        'given_as_csv'])
def test_output_that_cannot_be_a_file_is_refused_before_reading(
    sweep, tmp_path, output, message, monkeypatch, snapshot, ptjf):
  (tmp_path / 'afile').write_text('not a directory\n')
  (tmp_path / 'taken.png').mkdir()
  monkeypatch.setattr(front, 'collect', None)  # reading the runs would fail
  before = snapshot(tmp_path)
  result = ptjf('plot', sweep, '--output=' + output.format(d=tmp_path))
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f'error: --output={output}: '.format(d=tmp_path))
  assert message.format(d=tmp_path) in last
  assert snapshot(tmp_path) == before


@pytest.mark.parametrize('output', ['out/front', 'new/deeper/front'])
def test_a_full_file_system_leaves_no_partial_file(output, sweep, tmp_path,
                                                   snapshot, ptjf):
  # A file size limit makes writes fail with EFBIG, as a full disk fails them
  # with ENOSPC, in the child alone; ignoring SIGXFSZ survives its exec.
  def limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'front.csv').write_text('an older table\n')
  before = snapshot(tmp_path, content=True)
  child = ptjf.start('plot', sweep, f'--output={tmp_path}/{output}', text=True,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     preexec_fn=limit)
  _, stderr = child.communicate(timeout=300)
  assert child.returncode == 1
  assert stderr.strip().splitlines()[-1] == (
      f'error: cannot write {tmp_path}/{output}.png: file too large; '
      'nothing was written.')
  assert snapshot(tmp_path, content=True) == before
