"""Where the time of one t5x.train attempt went, read from its log.

The log is the one `ptjf run` keeps per attempt: its first and last lines say
when t5x.train was launched and when it exited, and T5X stamps every line and
logs its own compile and checkpoint times as summaries. The parts add up to
the attempt's wall time; 'evaluation' is what the loop spent outside steps,
compiles and saves (training evaluation, summaries).
"""

import datetime
import os
import re

from ptjf import child

_STAMP = re.compile(r'^[IWEF](\d{4}) (\d\d:\d\d:\d\d\.\d{6}) ')
_SUMMARY = re.compile(r'collection=(\S+) .*?timing/(compilation|checkpoint)_seconds=([\d.]+)')
_RESTORE = re.compile(r'Initialize/restore complete \(([\d.]+) seconds\)')

# The parts of an attempt, in the order they happen.
PARTS = ('imports', 'datasets', 'initialize/restore', 'compile', 'steps',
         'checkpoints', 'evaluation', 'exit')


class Attempt:
  """The stamped lines of one attempt's log."""

  def __init__(self, path: str):
    with open(path) as f:
      text = f.read().splitlines()
    launch = child.LAUNCH_LINE.match(text[0]) if text else None
    exit_ = child.EXIT_LINE.match(text[-1]) if text else None
    if not (launch and exit_):
      raise ValueError(f'{path} does not start and end with the launch and exit '
                       'lines of `ptjf run`: not a finished attempt log it wrote.')
    self.path = path
    self.launched, self.ended = float(launch.group(1)), float(exit_.group(2))
    year = datetime.datetime.fromtimestamp(self.launched).year
    self.lines = []  # (time.time() of the line, text)
    for line in text[1:]:
      if m := _STAMP.match(line):
        stamp = datetime.datetime.strptime(f'{year}{m.group(1)} {m.group(2)}',
                                           '%Y%m%d %H:%M:%S.%f')
        self.lines.append((stamp.timestamp(), line))

  def first_line(self, marker: str) -> tuple[float, str]:
    """The time and text of the first line containing `marker`."""
    for when, line in self.lines:
      if marker in line:
        return when, line
    raise ValueError(f'no log line contains {marker!r}')

  def first(self, marker: str) -> float:
    return self.first_line(marker)[0]

  def spans(self, begin: str, end: str) -> float:
    """Seconds between each line with `begin` and the next with `end`, summed."""
    total, started = 0.0, None
    for when, line in self.lines:
      if begin in line:
        started = when
      elif end in line and started is not None:
        total, started = total + when - started, None
    return total

  def summed(self, kind: str) -> float:
    """T5X's own `timing/<kind>_seconds` summaries, summed over collections."""
    return sum(float(m.group(3)) for _, line in self.lines
               if (m := _SUMMARY.search(line)) and m.group(2) == kind)

  def breakdown(self) -> dict[str, float]:
    configured = self.first('Gin Configuration:')
    restored, line = self.first_line('Initialize/restore complete')
    restore = float(_RESTORE.search(line).group(1))
    loop = self.first('Starting training loop.')
    # A run that starts at step 0 saves a checkpoint before its loop; T5X times
    # only those inside the loop.
    saving = [w for w, l in self.lines if 'Saving checkpoint before the training' in l]
    first_save = loop - saving[0] if saving else 0.0
    in_loop_saves = self.summed('checkpoint')
    compile_s = self.summed('compilation')
    steps = self.spans('BEGIN Train loop.', 'END Train loop.')
    last = self.lines[-1][0]
    return {
        'imports': configured - self.launched,
        'datasets': restored - configured - restore,
        'initialize/restore': restore + (loop - restored - first_save),
        'compile': compile_s,
        'steps': steps,
        'checkpoints': first_save + in_loop_saves,
        'evaluation': last - loop - compile_s - steps - in_loop_saves,
        'exit': self.ended - last,
    }


def attempts(log_dir: str) -> list[Attempt]:
  """Every attempt logged under `log_dir`, in launch order."""
  found = [Attempt(os.path.join(log_dir, name))
           for name in os.listdir(log_dir) if name.endswith('.log')]
  return sorted(found, key=lambda a: a.launched)


def print_table(columns: dict[str, dict[str, float]]) -> None:
  """Seconds per part (rows) for each named breakdown (columns), with totals."""
  names = list(columns)
  print(f'{"seconds":20s}' + ''.join(f'{n:>14s}' for n in names))
  for part in PARTS:
    print(f'{part:20s}' + ''.join(f'{columns[n][part]:14.2f}' for n in names))
  print(f'{"total":20s}' + ''.join(f'{sum(columns[n].values()):14.2f}'
                                   for n in names))
