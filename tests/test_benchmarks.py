"""The benchmarks' arithmetic, on literal logs, batches and loss curves."""

import datetime
import os

import numpy as np
import pytest

from benchmarks import epochs
from benchmarks import packing
from benchmarks import t5x_log
from benchmarks import trade_off

LAUNCHED = 1_790_000_000.0


def _stamp(seconds_after_launch: float) -> str:
  t = datetime.datetime.fromtimestamp(LAUNCHED + seconds_after_launch)
  return f'I{t:%m%d %H:%M:%S.%f} 140 x.py:1] '


def _write_log(path, lines, exit_after=30.0):
  with open(path, 'w') as f:
    f.write(f'ptjf: launched at {LAUNCHED:.3f}: python -m t5x.train ...\n')
    f.write('WARNING: All log messages before absl::InitializeLog() ...\n')
    for seconds, text in lines:
      f.write(_stamp(seconds) + text + '\n')
    f.write(f'ptjf: exited with 0 at {LAUNCHED + exit_after:.3f}\n')


FRESH_START = [
    (8.0, 'Gin Configuration:'),
    (8.5, 'Process ID: 0'),
    (14.0, 'Initialize/restore complete (2.50 seconds).'),
    (14.2, 'Saving checkpoint before the training loop starts.'),
    (14.7, 'Starting training loop.'),
    (14.7, 'Compiling train loop.'),
    (20.7, '[0] collection=train timing/compilation_seconds=6.0'),
    (20.7, 'BEGIN Train loop.'),
    (22.7, 'END Train loop.'),
    (23.0, '[20] collection=training_eval/t timing/compilation_seconds=1.5'),
    (25.0, 'BEGIN Train loop.'),
    (26.0, 'END Train loop.'),
    (26.0, 'Saving checkpoint.'),
    (26.4, '[40] collection=train timing/checkpoint_seconds=0.4'),
    (27.0, 'Evaluating: t.'),
]


def test_attempt_breakdown_against_hand_computed_parts(tmp_path):
  path = tmp_path / 'ptjf.host.log'
  _write_log(path, FRESH_START)
  parts = t5x_log.Attempt(str(path)).breakdown()
  assert list(parts) == list(t5x_log.PARTS)
  expected = {
      'imports': 8.0,
      'datasets': 14.0 - 8.0 - 2.5,
      'initialize/restore': 2.5 + (14.7 - 14.0 - 0.5),
      'compile': 6.0 + 1.5,
      'steps': 2.0 + 1.0,
      'checkpoints': 0.5 + 0.4,
      'evaluation': 27.0 - 14.7 - 7.5 - 3.0 - 0.4,
      'exit': 30.0 - 27.0,
  }
  assert parts == pytest.approx(expected, abs=1e-5)
  assert sum(parts.values()) == pytest.approx(30.0, abs=1e-5)


def test_resumed_attempt_has_no_save_before_the_loop(tmp_path):
  path = tmp_path / 'pretrain.host.log'
  _write_log(path, [l for l in FRESH_START if 'before the training' not in l[1]])
  parts = t5x_log.Attempt(str(path)).breakdown()
  assert parts['checkpoints'] == pytest.approx(0.4)
  assert parts['initialize/restore'] == pytest.approx(2.5 + 0.7)


def test_attempts_in_launch_order_and_foreign_logs_refused(tmp_path):
  _write_log(tmp_path / 'b.log', FRESH_START)
  _write_log(tmp_path / 'a.log', FRESH_START)
  with open(tmp_path / 'a.log') as f:
    text = f.read().replace(f'{LAUNCHED:.3f}', f'{LAUNCHED + 100:.3f}', 1)
  (tmp_path / 'a.log').write_text(text)
  assert [os.path.basename(a.path) for a in t5x_log.attempts(str(tmp_path))] == [
      'b.log', 'a.log']
  (tmp_path / 'c.log').write_text(_stamp(1) + 'Gin Configuration:\n')
  with pytest.raises(ValueError, match=r'c\.log does not start and end with the '
                     'launch and exit lines'):
    t5x_log.attempts(str(tmp_path))


def test_unfinished_attempt_is_refused(tmp_path):
  path = tmp_path / 'x.log'
  _write_log(path, FRESH_START)
  path.write_text(''.join(path.read_text().splitlines(True)[:-1]))
  with pytest.raises(ValueError, match='not a finished attempt log'):
    t5x_log.Attempt(str(path))


def test_tally_counts_packed_examples_and_real_tokens():
  batch = {
      'encoder_input_tokens': np.array([[5, 6, 1, 7, 1, 0], [8, 1, 0, 0, 0, 0]]),
      'encoder_segment_ids': np.array([[1, 1, 1, 2, 2, 0], [1, 1, 0, 0, 0, 0]]),
      'decoder_loss_weights': np.array([[1, 1, 1, 0], [1, 0, 0, 0]]),
  }
  tally = packing.Tally()
  tally.add(batch)
  tally.add(batch)
  assert (tally.rows, tally.examples) == (4, 6)
  assert (tally.input_tokens, tally.target_tokens, tally.tokens) == (14, 8, 22)
  assert (tally.input_slots, tally.target_slots) == (24, 16)


PAIR = trade_off.Problem('ptjf_synth.en_fr', 'ptjf_synth.en_ro', (), 16)


def _curve(method, rate, first_steps, low, high, workdir='/w'):
  run = trade_off.Run(f'{method}_synth_ro_fr_tiny', workdir, rate, first_steps)
  return trade_off.Curve(method, run, high, low)


@pytest.fixture
def hand_counted(monkeypatch):
  """The tasks of a pair, and 1,000 en_ro tokens a step at en_fr rate 0."""
  monkeypatch.setattr(trade_off, 'problem', lambda name: PAIR)
  monkeypatch.setattr(trade_off, 'low_tokens_per_step',
                      lambda problem, rate: 1000.0 * (1 - (rate or 0.0)))


CURVES = [
    _curve('static', 0.2, 0, {100: 3.0, 200: 2.5, 300: 2.6}, {100: 4.0, 200: 3.5, 300: 3.4}, '/s2'),
    _curve('static', 0.8, 0, {100: 3.5, 200: 3.1, 300: 2.9}, {100: 3.0, 200: 2.5, 300: 2.4}, '/s8'),
    _curve('ptjf', 0.2, 200, {300: 2.7, 400: 2.4, 500: 2.45}, {300: 2.2, 400: 2.3, 500: 2.3}, '/p2'),
    _curve('restart', 0.4, 200, {300: 2.8, 400: 2.7}, {300: 3.0, 400: 2.9}, '/r4'),
    _curve('transfer', None, 200, {300: 2.6, 400: float('nan'), 500: 2.55},
           {300: 4.0, 400: 4.1, 500: 4.2}, '/t'),
]


def test_reproduction_table_against_hand_computed_rows(hand_counted):
  rows = trade_off.table(CURVES)[2:]
  assert rows == [
      '| static | 2.500 | 3.500 | 0.2 | 200 | 160k | 200 |',
      '| ptjf | 2.400 | 2.300 | 0.2 | 400 | 160k | 400 |',
      '| restart | 2.700 | 2.900 | 0.4 | 400 | 240k | not reached |',  # both phases at 0.4
      '| transfer | 2.550 | 4.200 | en_ro only | 500 | 300k | not reached |',
  ]


def test_reproduction_table_reports_bleu_at_each_best_run(hand_counted):
  bleu = {f'{d}/{m}': {'ptjf_synth.en_ro': b, 'ptjf_synth.en_fr': 30 + b}
          for d, m, b in [('/s2', 'static', 1.0), ('/s8', 'static', 2.0),
                          ('/p2', 'ptjf', 3.25), ('/r4', 'restart', 4.0),
                          ('/t', 'transfer', 5.0)]}
  lines = trade_off.table(CURVES, bleu)
  assert lines[0].split(' | ')[5:7] == ['en_ro BLEU there', 'en_fr BLEU there']
  assert lines[2] == '| static | 2.500 | 3.500 | 0.2 | 200 | 1.00 | 31.00 | 160k | 200 |'
  assert lines[3] == '| ptjf | 2.400 | 2.300 | 0.2 | 400 | 3.25 | 33.25 | 160k | 400 |'


def test_front_table_puts_every_run_at_its_best_en_ro_step(hand_counted):
  assert trade_off.front_table(CURVES) == [
      '| en_fr rate | static | ptjf | restart | transfer |',
      '|---|---|---|---|---|',
      '| 0.2 | 2.500 / 3.500 (step 200) | 2.400 / 2.300 (step 400) |  |  |',
      '| 0.4 |  |  | 2.700 / 2.900 (step 400) |  |',
      '| 0.8 | 2.900 / 2.400 (step 300) |  |  |  |',
      '| only en_ro |  |  |  | 2.550 / 4.200 (step 500) |',
  ]


@pytest.mark.parametrize('module, args, message', [
    ('reproduce_pair', ['--rates=0.2,1.5'],
     "--rates: '1.5' is not a rate strictly between 0 and 1."),
    ('reproduce_pair', ['--restart_rates=x'],
     "--restart_rates: 'x' is not a rate strictly between 0 and 1."),
    ('reproduce_pair', ['--steps=2000', '--pretrain_steps=2000'],
     '--pretrain_steps=2000: give a count between 0 and --steps=2000, exclusive'),
    ('reproduce_pair', ['--lengths=600,2400'], "--lengths: '2400' is not a "
     "pre-training length: give positive step counts other than the grid's 2400"),
    ('reproduce_pair', ['--problem=nope'], '--problem=nope: '),
    ('reproduce_languages', ['--pretrain_steps=3000'],
     '--pretrain_steps=3000: give a count between 0 and --steps=3000, exclusive'),
])
def test_reproduction_refuses_bad_flags_before_training(tmp_path, module, args,
                                                        message, python_m):
  workdir = tmp_path / 'w'
  # a process of its own: its --workdir is not ptjf run's
  done = python_m(f'benchmarks.{module}', f'--workdir={workdir}', *args,
                  subprocess=True)
  assert done.returncode != 0
  assert message in done.stderr
  assert not workdir.exists()


def _cells(line):
  return [c.strip() for c in line.strip('|').split('|')]


@pytest.mark.needs_t5x
def test_epoch_tables_match_the_paper_to_three_percent():
  pair = epochs.pair_table()
  # static at en_fr rate 0.5: 450k x 1024 x 0.5 over 40.9M and 610k pairs;
  # 2,700 x 16 x 0.5 over 3,840 and 57.
  assert _cells(pair[4])[:5] == ['0.5', '>=5.63', '>=378', '5.62', '379']
  assert pair[-1] == ('PTJF pre-training, en_fr alone: paper >=10 passes in 400k '
                      'steps; here 10 passes in 2,400 steps.')
  languages = epochs.languages_table()
  assert [_cells(line)[0] for line in languages[2:]] == ['en', 'hi', 'sw', 'gu', 'gd']
  # Pair columns: paper en_fr, en_ro, here en_fr, en_ro, for static then
  # the fine-tune; language columns: paper, here, for each phase.
  compared = [(row[i], row[i + 2]) for row in (_cells(l)[1:] for l in pair[2:7])
              for i in (0, 1, 4, 5)]
  compared += [(row[i], row[i + 1]) for row in (_cells(l)[1:] for l in languages[2:])
               for i in (0, 2, 4) if row[i]]
  assert len(compared) == 5 * 4 + 5 * 2 + 1
  for paper, here in compared:
    assert float(here) == pytest.approx(float(paper.lstrip('>=')), rel=0.03)


def test_languages_table_bolds_each_languages_best_and_counts_wins(tmp_path):
  path = tmp_path / 'best.csv'
  path.write_text(
      'task,split,method,best,run_dir,step,total_step\n'
      't.en,validation,ptjf,3.2,/p,1500,3000\n'
      't.en,validation,static,3.1,/s,2900,2900\n'
      't.en,validation,restart,3.3,/r,1500,3000\n'
      't.en,train,static,1.0,/s,3000,3000\n'  # training split: not a row
      't.gd,validation,ptjf,4.25,/p,200,1700\n'
      't.gd,validation,static,4.5,/s,300,300\n'
      't.gd,validation,restart,4.75,/r,100,1600\n')
  assert trade_off.languages_table(str(path), ('static', 'restart', 'ptjf')) == [
      '| language | static | restart | ptjf |',
      '|---|---|---|---|',
      '| en | **3.100 (step 2900)** | 3.300 (step 3000) | 3.200 (step 3000) |',
      '| gd | 4.500 (step 300) | 4.750 (step 1600) | **4.250 (step 1700)** |',
      '| best on | 1 of 2 | 0 of 2 | 1 of 2 |',
  ]
