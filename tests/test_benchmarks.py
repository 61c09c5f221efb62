"""The benchmarks' arithmetic, on literal logs, batches and loss curves."""

import datetime
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import packing
from benchmarks import t5x_log
from benchmarks import trade_off

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def _curve(method, rate, first_steps, low, high):
  run = trade_off.Run(f'{method}_synth_ro_fr_tiny', '/w', rate, first_steps)
  return trade_off.Curve(method, run, high, low)


def test_reproduction_table_against_hand_computed_rows(monkeypatch):
  monkeypatch.setattr(trade_off, 'low_tokens_per_step',
                      lambda rate: 1000.0 * (1 - (rate or 0.0)))
  curves = [
      _curve('static', 0.2, 0, {100: 3.0, 200: 2.5, 300: 2.6}, {100: 4.0, 200: 3.5, 300: 3.4}),
      _curve('static', 0.8, 0, {100: 3.5, 200: 3.1, 300: 2.9}, {100: 3.0, 200: 2.5, 300: 2.4}),
      _curve('ptjf', 0.2, 200, {300: 2.7, 400: 2.4, 500: 2.45}, {300: 2.2, 400: 2.3, 500: 2.3}),
      _curve('restart', 0.4, 200, {300: 2.8, 400: 2.7}, {300: 3.0, 400: 2.9}),
      _curve('transfer', None, 200, {300: 2.6, 400: float('nan'), 500: 2.55},
             {300: 4.0, 400: 4.1, 500: 4.2}),
  ]
  rows = trade_off.table(curves)[2:]
  assert rows == [
      '| static | 2.500 | 3.500 | 0.2 | 200 | 160k | 200 |',
      '| ptjf | 2.400 | 2.300 | 0.2 | 400 | 160k | 400 |',
      '| restart | 2.700 | 2.900 | 0.4 | 400 | 240k | not reached |',  # both phases at 0.4
      '| transfer | 2.550 | 4.200 | en_ro only | 500 | 300k | not reached |',
  ]


@pytest.mark.parametrize('args, message', [
    (['--rates=0.2,1.5'], "rate '1.5': rates lie strictly between 0 and 1"),
    (['--restart_rate=x'], "rate 'x': rates lie strictly between 0 and 1"),
    (['--pretrain_steps=2000'], '--pretrain_steps=2000: give a count between 0 '
     'and --steps=2000, exclusive'),
])
def test_reproduction_refuses_bad_flags_before_training(tmp_path, args, message):
  workdir = tmp_path / 'w'
  done = subprocess.run(
      [sys.executable, '-m', 'benchmarks.reproduce_tiny', f'--workdir={workdir}',
       *args], cwd=REPO, capture_output=True, text=True)
  assert done.returncode != 0
  assert message in done.stderr
  assert not workdir.exists()
