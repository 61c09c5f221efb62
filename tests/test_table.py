"""The one rule for a best value, as the front applies it, the one
aligned-text table, by hand, and the one writer of the files it goes to."""

import errno
import math
import os

import pytest

from ptjf import front
from ptjf import outputs
from ptjf import summaries
from ptjf import table

NAN = math.nan


def test_best_is_the_lowest_or_the_highest_never_a_nan():
  assert summaries.best([3.0, NAN, 1.0, 2.0]) == 1.0
  assert summaries.best([3.0, NAN, 1.0, 2.0], higher=True) == 3.0
  assert summaries.best([NAN, NAN]) is None
  assert summaries.best([]) is None


def test_best_of_equal_values_is_the_first():
  # Steps in order, as a run's evaluations: the earlier of two equal losses.
  losses = {10: 2.0, 20: 1.5, 30: 1.5, 40: NAN}
  assert summaries.best(sorted(losses), value=losses.get) == 20
  assert summaries.best(sorted(losses), True, losses.get) == 10
  assert summaries.best(sorted(losses, reverse=True), value=losses.get) == 30


def test_front_takes_each_runs_best_step_by_the_rule(tmp_path, write_events):
  run = tmp_path / 'ptjf'
  write_events(run / 'training_eval/high', {'loss': {10: 1.0, 20: 2.0, 30: 3.0}})
  write_events(run / 'training_eval/low', {'loss': {10: 5.0, 20: 4.0, 30: 4.0}})
  write_events(run / 'training_eval/gone', {'loss': {10: NAN, 20: NAN}})
  point = front.measure(str(run), 'high', 'low', point='best')
  assert (point.step, point.high, point.low) == (20, 2.0, 4.0)  # the earlier tie
  point = front.measure(str(run), 'high', 'low', point='best', higher=True)
  assert point.step == 10
  # Only NaNs, a diverged run: its first step, which no front keeps.
  point = front.measure(str(run), 'high', 'gone', point='best')
  assert point.step == 10 and math.isnan(point.low)
  front.mark_fronts([point])
  assert not point.pareto and not point.pareto_all


def test_aligned_left_columns_without_trailing_spaces():
  assert table.aligned([['method', 'step', 'run'], ['ptjf', '20', ''],
                        ['static', '100', 'a/static']]).splitlines() == [
                            'method  step  run',
                            'ptjf    20',
                            'static  100   a/static']


def test_aligned_numbers_right_after_the_first_column():
  assert table.aligned([['task', 'rate', 'epochs'], ['en', '0.5', '>=10'],
                        ['gd_long', '0.25', '3']], right=True,
                       indent='  ').splitlines() == [
                           '  task     rate  epochs',
                           '  en        0.5    >=10',
                           '  gd_long  0.25       3']


def test_files_are_written_whole_and_replace_their_old_content(tmp_path):
  (tmp_path / 'a.csv').write_text('old\n')
  outputs.write({str(tmp_path / 'a.csv'): 'new\n',
               str(tmp_path / 'deep' / 'b.png'): b'\x89PNG'})
  assert (tmp_path / 'a.csv').read_text() == 'new\n'
  assert (tmp_path / 'deep' / 'b.png').read_bytes() == b'\x89PNG'
  assert sorted(os.listdir(tmp_path)) == ['a.csv', 'deep']  # no temporary


def test_a_full_disk_writes_none_of_the_files(tmp_path, monkeypatch, snapshot):
  (tmp_path / 'a.csv').write_text('old\n')
  before = snapshot(tmp_path, content=True)
  opened = []
  real_open = os.open
  def full_at_the_second(path, *args):  # the second file finds the disk full
    opened.append(path)
    if len(opened) == 2:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_open(path, *args)
  monkeypatch.setattr(os, 'open', full_at_the_second)
  target = tmp_path / 'new' / 'deeper' / 'b.png'
  with pytest.raises(outputs.WriteError) as error:
    outputs.write({str(tmp_path / 'a.csv'): 'new\n', str(target): b'\x89PNG'})
  assert str(error.value) == (f'cannot write {target}: no space left on '
                              'device; nothing was written.')
  assert snapshot(tmp_path, content=True) == before  # nor a directory made


def test_an_interrupt_leaves_no_temporary(tmp_path, monkeypatch, snapshot):
  before = snapshot(tmp_path)
  def interrupted(*unused):
    raise KeyboardInterrupt
  monkeypatch.setattr(os, 'replace', interrupted)
  with pytest.raises(KeyboardInterrupt):
    outputs.write({str(tmp_path / 'x' / 'a.csv'): 'a\n'})
  assert snapshot(tmp_path) == before
