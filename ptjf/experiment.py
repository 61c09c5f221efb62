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
from typing import Optional

from ptjf import recipe

# Fine-tune arm -> the arm whose final checkpoint it restores.
FIRST_PHASE = {'ptjf': 'pretrain', 'transfer': 'pretrain', 'restart': 'static'}
SINGLE_PHASE = ('pretrain', 'static')
ARMS = SINGLE_PHASE + tuple(FIRST_PHASE)


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
