r"""The passes over each task in the paper's runs and in the reproduction's
(docs/reproduction.md), counted from the recipes and data sizes as
`ptjf plan` counts them: steps x batch x rate / training-set examples, one
example per packed sequence (span corruption fills a sequence with one chunk;
measured for the synthetic pairs on 400 packed rows; WMT sentences may
pack several, so the paper's translation counts are lower bounds, '>=').

  python -m benchmarks.epochs [--markdown=docs/figures/reproduction_epochs.md]
"""

import sys
from typing import Sequence

from absl import app
from absl import flags

from ptjf import outputs
from ptjf import plan
from ptjf import preflight
from ptjf import recipe

_MARKDOWN = flags.DEFINE_string('markdown', None, 'Also write the tables to this file.')

# (paper's recipes, the reproduction's): the problems compared.
PAIR = ('wmt_ro_fr_3layer', 'synth_ro_fr_paper')
LANGUAGES = ('mc4_xxl', 'synth_mc4_paper')
PACKED_ROWS = 400
PAIR_RATES = (0.1, 0.3, 0.5, 0.7, 0.9)  # the reproduction's en_fr rates
# The paper's NMT recipes leave the learning rate and fine-tune warm-up to a
# sweep; what a run passes over does not depend on them.
PAIR_STAND_INS = {PAIR[0]: ('LEARNING_RATE = 5e-3', 'WARMUP_STEPS = 10_000'),
                  PAIR[1]: ()}


def phases(experiment: str, gin: Sequence[str] = ()) -> list[plan.PhasePlan]:
  """`ptjf plan`'s count of each phase of an experiment; examples per packed
  sequence are measured where the data is here (the synthetic corpus)."""
  runs = preflight.prepare(experiment, '<workdir>', gin=list(gin),
                           check_data=False)  # as ptjf plan: counts, no data
  rows = PACKED_ROWS if '_synth_' in experiment else 0
  return [plan.plan_phase(run, [], {}, rows) for run in runs]


def _cell(phase: plan.PhasePlan, suffix: str) -> str:
  task = next(t for t in phase.tasks if t.task.endswith(suffix))
  return plan.number(task.epochs, task.exact)


def _steps(phase: plan.PhasePlan) -> str:
  """'1M', '400k', or '2,700'."""
  steps = phase.run.steps
  if steps >= 1_000_000 and not steps % 1_000_000:
    return f'{steps // 1_000_000}M'
  if steps >= 10_000 and not steps % 1000:
    return f'{steps // 1000}k'
  return f'{steps:,}'


def pair_table() -> list[str]:
  """Per en_fr rate: the passes over en_fr and en_ro of static sampling and
  of PTJF's fine-tune, in the paper's runs and here; then the pre-training's."""
  columns, pretraining = [], []
  for problem in PAIR:
    gin = lambda r: [*PAIR_STAND_INS[problem], f'HIGH_RESOURCE_RATE = {r}']
    by_rate = {r: (phases(f'static_{problem}', gin(r))[0], phases(f'ptjf_{problem}', gin(r)))
               for r in PAIR_RATES}
    columns.append(by_rate)
    pretraining.append(by_rate[PAIR_RATES[0]][1][0])
  head = []
  for who, by_rate in zip(('paper', 'here'), columns):
    static, (_, finetune) = by_rate[PAIR_RATES[0]]
    head += [f'{who}: static ({_steps(static)} steps) en_fr', 'en_ro']
  for who, by_rate in zip(('paper', 'here'), columns):
    _, (_, finetune) = by_rate[PAIR_RATES[0]]
    head += [f'{who}: PTJF fine-tune ({_steps(finetune)}) en_fr', 'en_ro']
  lines = ['| en_fr rate | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 1) + '|']
  for rate in PAIR_RATES:
    cells = [c for by_rate in columns
             for c in (_cell(by_rate[rate][0], 'en_fr'), _cell(by_rate[rate][0], 'en_ro'))]
    cells += [c for by_rate in columns
              for c in (_cell(by_rate[rate][1][1], 'en_fr'), _cell(by_rate[rate][1][1], 'en_ro'))]
    lines.append(f'| {rate} | ' + ' | '.join(cells) + ' |')
  lines.append('')
  lines.append('PTJF pre-training, en_fr alone: ' + '; '.join(
      f'{who} {_cell(p, "en_fr")} passes in {_steps(p)} steps'
      for who, p in zip(('paper', 'here'), pretraining)) + '.')
  return lines


def languages_table() -> list[str]:
  """Per language: the passes of static sampling at tau = 3.33, of PTJF's
  English pre-training and of its fine-tune, in the paper's runs and here."""
  counted = {problem: (phases(f'static_{problem}')[0], *phases(f'ptjf_{problem}'))
             for problem in LANGUAGES}
  names = ('static', 'PTJF pre-training', 'PTJF fine-tune')
  head = [f'{who}: {name} ({_steps(counted[problem][i])} steps)'
          for i, name in enumerate(names)
          for who, problem in zip(('paper', 'here'), LANGUAGES)]
  lines = ['| language | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 1) + '|']
  for lang in ('en', 'hi', 'sw', 'gu', 'gd'):
    cells = []
    for i in range(len(names)):
      for problem in LANGUAGES:
        phase = counted[problem][i]
        has = any(t.task.endswith(f'.{lang}') for t in phase.tasks)
        cells.append(_cell(phase, f'.{lang}') if has else '')
    lines.append(f'| {lang} | ' + ' | '.join(cells) + ' |')
  return lines


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  text = '\n'.join(['En->{Ro,Fr}', '', *pair_table(), '', 'Five languages, tau = 3.33',
                    '', *languages_table()])
  print(text)
  if _MARKDOWN.value:
    outputs.write({_MARKDOWN.value: text + '\n'})
    print(f'wrote {_MARKDOWN.value}')


if __name__ == '__main__':
  app.run(main)
