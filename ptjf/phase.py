"""One stage of an experiment resolved for a `ptjf run` call (by
ptjf.preflight, which checks it): its directory, bindings, steps and model,
the t5x.train command of each attempt, and the checks of the checkpoints it
resumes from or restores, which ptjf.chain repeats once the stage before it
has trained."""

import dataclasses
import os
from typing import Optional, Sequence

from ptjf import checkpoint
from ptjf import experiment
from ptjf import host
from ptjf import recipe


@dataclasses.dataclass
class PhaseRun:
  """One phase of an experiment, resolved: where it runs and for how long."""
  phase: experiment.Phase
  model_dir: str
  bindings: list[str]
  steps: int
  shapes: dict[str, tuple[int, ...]]
  report: list[str] = dataclasses.field(default_factory=list)
  data_seed: Optional[int] = None
  mesh: Optional[host.MeshNeed] = None
  remote_files: list[str] = dataclasses.field(default_factory=list)
  vocabulary: str = ''
  initial: str = ''  # the previous stage's final checkpoint, if it restores one
  first_step: int = 0  # the step it starts at: the previous one's if state is kept

  def attempt_bindings(self, start_step: int = 0) -> list[str]:
    """The bindings of an attempt resuming at `start_step`, MODEL_DIR first:
    a fixed DATA_SEED moves on with the step, so no batch is replayed."""
    seed = ([f'DATA_SEED = {self.data_seed + start_step}']
            if self.data_seed is not None and start_step else [])
    return [recipe.string_binding('MODEL_DIR', self.model_dir), *self.bindings,
            *seed]

  def command(self, gin_files: Sequence[str] = (),
              t5x_flags: Sequence[str] = (), start_step: int = 0) -> list[str]:
    """The t5x.train of an attempt resuming at `start_step`: the recipe, then
    `gin_files`, then the attempt's bindings."""
    return recipe.t5x_command('train', [self.phase.recipe, *gin_files],
                              self.attempt_bindings(start_step), t5x_flags)

  def parse(self, gin_files: Sequence[str] = (), extra: Sequence[str] = ()
            ) -> None:
    """Parses the phase's config as its first attempt's t5x.train does."""
    recipe.parse(self.phase.recipe, [*self.attempt_bindings(), *extra],
                 more_gin_files=gin_files)

  def heading(self, index: int, total: int) -> str:
    """'[1/2] pretrain: recipes/pretrain_X.gin -> DIR/pretrain'."""
    return (f'[{index}/{total}] {self.phase.arm}: '
            f'{os.path.relpath(self.phase.recipe, recipe.REPO)} -> {self.model_dir}')

  @property
  def final_checkpoint(self) -> str:
    return checkpoint.path(self.model_dir, self.steps)

  def done(self) -> bool:
    return checkpoint.complete(self.final_checkpoint)

  def check_initial(self, initial: str, fix: str) -> None:
    """The fine-tune's initial checkpoint exists, is complete and fits this
    phase's model; `fix` says what to do when it is missing (one that is
    there but broken is named as check_whole does). Raises
    recipe.PreflightError."""
    if not checkpoint.complete(initial):
      have = checkpoint.steps(os.path.dirname(initial))
      if initial in (checkpoint.path(os.path.dirname(initial), s) for s in have):
        check_whole(initial)  # there but not whole: name what is wrong
      raise recipe.PreflightError(f'{initial} is missing or incomplete '
                                  f'(checkpoints there: {have or "none"}): '
                                  f'{fix}')
    check_whole(initial)
    if diff := model_mismatch(checkpoint.parameter_shapes(initial),
                              self.shapes):
      raise recipe.PreflightError(
          f'{initial} is of a different model than '
          f'{os.path.basename(self.phase.recipe)} ({diff}).')


def model_mismatch(have: dict, want: dict) -> str:
  """'' when two parameter trees agree, else a short description."""
  if have == want:
    return ''
  names = sorted(set(have) ^ set(want)) or sorted(
      n for n in want if have[n] != want[n])
  example = names[0]
  return (f'{len(names)} parameters differ, e.g. {example}: '
          f'{have.get(example, "absent")} in the checkpoint, '
          f'{want.get(example, "absent")} in the recipe')


def check_whole(path: str) -> None:
  """Refuses a checkpoint T5X would fail to restore (recipe.PreflightError),
  naming what to move aside and the newest whole checkpoint, where T5X would
  resume then."""
  if not (problem := checkpoint.verify(path)):
    return
  model_dir, step = os.path.dirname(path), int(path.rsplit('_', 1)[1])
  broken = [step]
  for older in reversed([s for s in checkpoint.steps(model_dir) if s < step]):
    if not checkpoint.verify(checkpoint.path(model_dir, older)):
      then = f'the newest good one is checkpoint_{older}, where the phase resumes'
      break
    broken.append(older)
  else:
    then = 'no older checkpoint is whole, so the phase starts from its beginning'
  names = ', '.join(f'checkpoint_{s}' for s in broken)
  raise recipe.PreflightError(
      f'{path} is broken ({problem}): move {names} out of {model_dir} (or '
      f'rename, e.g. to checkpoint_{step}.broken); {then}.')
