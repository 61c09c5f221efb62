"""An experiment is a recipe together with the run its checkpoint comes from.

Recipes are named `<arm>_<data>_<model>`. The fine-tune arms start from the
final checkpoint of another arm of the same data and model:

  ptjf_X, transfer_X  <-  pretrain_X
  restart_X           <-  static_X, run for pretrain_X's TRAIN_STEPS

`pretrain_X` and `static_X` are experiments of one phase. Each phase runs in
its own directory named after its arm, e.g. <workdir>/pretrain and
<workdir>/ptjf.
"""

import dataclasses
import difflib
import os
from typing import Optional, Sequence

from ptjf import recipe

# Fine-tune arm -> the arm whose final checkpoint it restores.
FIRST_PHASE = {'ptjf': 'pretrain', 'transfer': 'pretrain', 'restart': 'static'}
SINGLE_PHASE = ('pretrain', 'static')
ARMS = SINGLE_PHASE + tuple(FIRST_PHASE)
# Macros `ptjf run` sets for each phase from its directories.
SET_BY_RUN = frozenset({'MODEL_DIR', 'INITIAL_CHECKPOINT_PATH'})


@dataclasses.dataclass(frozen=True)
class Phase:
  """One `t5x.train` run of an experiment.

  Attributes:
    arm: 'pretrain', 'static', 'ptjf', 'transfer' or 'restart'; also the name
      of the phase's directory.
    recipe: path of the recipe's gin file.
    steps_from: for the restart's static phase, the recipe whose TRAIN_STEPS
      it runs for (the pre-training's, so the arms compare at equal steps).
  """
  arm: str
  recipe: str
  steps_from: Optional[str] = None

  @property
  def restores(self) -> bool:
    return self.arm in FIRST_PHASE


def split(name: str) -> tuple[str, str]:
  """('ptjf', 'mc4_xxl') for 'ptjf_mc4_xxl'."""
  arm, _, rest = name.partition('_')
  return arm, rest


def recipe_path(experiment: str) -> str:
  """The recipe file of a name ('ptjf_mc4_xxl') or a path to a .gin file."""
  if experiment.endswith('.gin'):
    path = os.path.abspath(experiment)
    if not os.path.isfile(path):
      raise ValueError(f'recipe file {experiment!r} does not exist.')
    return path
  path = os.path.join(recipe.RECIPES_DIR, experiment + '.gin')
  if not os.path.isfile(path):
    names = [os.path.basename(p)[:-4] for p in recipe.recipes()]
    close = difflib.get_close_matches(experiment, names, n=3)
    hint = f'did you mean {", ".join(close)}? ' if close else ''
    raise ValueError(f'unknown experiment {experiment!r}: {hint}give a recipe '
                     f'name from recipes/ (e.g. ptjf_mc4_xxl) or a .gin path.')
  return path


def phases(experiment: str) -> list[Phase]:
  """The runs of `experiment`, in order; the last is the experiment's recipe."""
  path = recipe_path(experiment)
  arm, rest = split(os.path.basename(path)[:-len('.gin')])
  if arm not in ARMS or not rest:
    raise ValueError(f'recipe {os.path.basename(path)!r} is not named '
                     f'<arm>_<data>_<model> with an arm in {", ".join(ARMS)}.')
  last = Phase(arm, path)
  if arm in SINGLE_PHASE:
    return [last]
  sibling = lambda a: recipe_path(  # pylint: disable=g-long-lambda
      os.path.join(os.path.dirname(path), f'{a}_{rest}.gin'))
  first_arm = FIRST_PHASE[arm]
  steps_from = sibling('pretrain') if arm == 'restart' else None
  return [Phase(first_arm, sibling(first_arm), steps_from), last]


def check_flags(name: str, phases: Sequence[Phase], gin: Sequence[str] = (),
                pretrain_gin: Sequence[str] = (),
                finetune_gin: Sequence[str] = (),
                pretrain_dir: Optional[str] = None, phase: str = 'all') -> None:
  """Raises ValueError for what `ptjf run` refuses from its flags alone,
  before reading any recipe (ptjf sweep and launch check the same)."""
  if managed := sorted({recipe.macro_name(b) for b in (
      *gin, *pretrain_gin, *finetune_gin)} & SET_BY_RUN):
    raise ValueError(f'{", ".join(managed)} is set by ptjf run from --workdir '
                     'and --pretrain_dir; do not bind it.')
  if len(phases) == 1 and (pretrain_gin or finetune_gin):
    raise ValueError(f'{name} has one phase: give its bindings with --gin, '
                     'not --pretrain_gin or --finetune_gin.')
  if pretrain_dir and (len(phases) == 1 or phase == 'first'):
    raise ValueError('--pretrain_dir is the first phase of a two-phase '
                     'experiment, to fine-tune from: not with --phase=first or '
                     'a one-phase experiment.')
  if phase == 'first' and finetune_gin:
    raise ValueError('--finetune_gin with --phase=first: the fine-tune does '
                     'not run.')
