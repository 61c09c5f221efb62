"""Resolves an experiment's phases and checks them before any compute.

Every problem found here is a recipe.PreflightError whose message is one line naming
the bad value and what would be valid: unknown experiments, REQUIRED macros
left unbound, bindings a recipe does not define, unknown mixtures, overlapping
directories, missing or incomplete initial checkpoints, and checkpoints of a
different model than the recipe builds, and settings out of their range
(ptjf.settings).
"""

import ast
import os
import re
import socket
import tokenize
from typing import Optional, Sequence

import seqio
import tensorflow as tf

from mixtures import registry
from ptjf import checkpoint
from ptjf import datasets
from ptjf import experiment
from ptjf import host
from ptjf import phase
from ptjf import recipe
from ptjf import settings

# How T5X's config.gin records the checkpoint a fine-tune restored.
_RESTORED = re.compile(r'^INITIAL_CHECKPOINT_PATH = (.+)$', re.M)
_STEPS = re.compile(r'^TRAIN_STEPS = ([\d_]+)$', re.M)  # and the steps it ran


def _normal(path: str) -> str:
  return path.rstrip('/') if '://' in path else os.path.realpath(path)


def _inside(path: str, parent: str) -> bool:
  path, parent = _normal(path), _normal(parent)
  return path == parent or path.startswith(parent + '/')


def _parse(path: str, bindings: Sequence[str], gin_files: Sequence[str],
           finalize: bool = True, hint: str = '--gin') -> None:
  """Parses like t5x.train, turning what gin rejects into a PreflightError;
  `hint` names the flags that bind this phase's macros."""
  name = os.path.relpath(path, recipe.REPO)
  try:
    recipe.parse(path, bindings, finalize=False, more_gin_files=gin_files)
    if finalize and (unbound := [m for m in recipe.unbound_required()
                                 if m not in experiment.SET_BY_RUN]):
      raise recipe.PreflightError(
          f'{name} leaves {", ".join(unbound)} unbound: bind '
          + ' '.join(f"--gin='{m} = ...'" for m in unbound)
          + f' ({hint}; the recipe\'s header says what each means).')
    if finalize:
      recipe.parse(path, bindings, finalize=True, more_gin_files=gin_files)
  except recipe.PreflightError:
    raise
  except SyntaxError as e:  # gin's, in a file the recipe includes: name it
    words, file, line = experiment.gin_syntax(e)
    file = file or path
    if file.startswith(recipe.REPO + os.sep):
      file = os.path.relpath(file, recipe.REPO)
    raise recipe.PreflightError(experiment.not_gin(file, line, words)) from e
  except tokenize.TokenError as e:  # a bracket left open to a file's end
    raise recipe.PreflightError(
        f'{name}: a bracket is left open to the end of it or of a file it '
        'includes.') from e
  except Exception as e:  # gin raises many types; its first line says what
    raise recipe.PreflightError(f'{name}: {str(e).splitlines()[0]}') from e


def _resolve(resolved: experiment.Phase, model_dir: str, bindings: list[str],
             gin_files: Sequence[str], hint: str, where: settings.Where,
             check_data: bool = True) -> tuple[phase.PhaseRun, set[str]]:
  """The phase's run, checked, and the macros its recipe defines itself;
  `where` names the binding or file that gave a setting."""
  path = resolved.recipe
  _parse(path, [], gin_files, finalize=False)
  macros = recipe.macro_names()
  _parse(path, [recipe.string_binding('MODEL_DIR', model_dir), *bindings],
         gin_files, hint=hint)
  name = os.path.relpath(path, recipe.REPO)
  if 'TRAIN_STEPS' not in recipe.macro_names():
    raise recipe.PreflightError(
        f'{name} binds no TRAIN_STEPS: is it a recipe? A recipe sets '
        'TRAIN_STEPS and includes its gin fragments (see recipes/).')
  settings.check_parsed(where, resolved.carry == 'parameters')
  if resolved.keeps_state and (
      mixture := recipe.value('MIXTURE_OR_TASK_NAME')) in registry.UNIMAX:
    raise recipe.PreflightError(
        f'{name} keeps the previous stage\'s state and trains on {mixture}, '
        "whose budget counts TRAIN_STEPS from step 0, but this stage's "
        "TRAIN_STEPS counts from the chain's start: give it a '.tau<t>' "
        'mixture, or UniMax in a stage that restores the parameters.')
  try:
    report, remote = datasets.check(data_present=check_data)
  except datasets.LengthsError as e:
    raise recipe.PreflightError(
        f'{where(settings.find("TASK_FEATURE_LENGTHS"))}: {e}') from e
  except ValueError as e:  # gin adds the configurable it called on a 2nd line
    raise recipe.PreflightError(f'{name}: {str(e).splitlines()[0]}') from e
  settings.check_model(where)  # its vocabulary is read: datasets checked it
  return phase.PhaseRun(resolved, model_dir, bindings,
                        recipe.value('TRAIN_STEPS'), recipe.parameter_shapes(),
                        report, recipe.value('DATA_SEED'), host.mesh_need(),
                        remote, _vocabulary(recipe.value('MODEL'))), macros


def _vocabulary(model) -> str:
  """The model's vocabularies as a stage's refusal names them."""
  def one(vocabulary) -> str:
    name = getattr(vocabulary, 'sentencepiece_model_file', None) or type(
        vocabulary).__name__
    return f'{name} (+{getattr(vocabulary, "extra_ids", 0)} extra ids)'
  given, made = one(model.input_vocabulary), one(model.output_vocabulary)
  return given if given == made else f'{given} -> {made}'



def _where(phases: Sequence[experiment.Phase], index: int,
           scoped: experiment.Bindings,
           gin_files: Sequence[str]) -> settings.Where:
  """Where each setting of `phases[index]` is given: the user's flags, in
  the order gin applies them, else a --gin_file, else the recipe (for the
  restart's static phase, TRAIN_STEPS is the pre-training recipe's)."""
  p = phases[index]
  given = experiment.given(phases, index, scoped)
  overrides = {'TRAIN_STEPS': settings.shown(p.steps_from)} if p.steps_from else {}
  return settings.sources(given, gin_files, settings.shown(p.recipe), overrides)


def _check_macros(flag: str, bindings: Sequence[str], known: set[str],
                  recipes: Sequence[str]) -> None:
  """A macro no recipe defines is a typo: gin alone would accept it unused."""
  macros = {n for n in map(recipe.macro_name, bindings) if '.' not in n}
  if unknown := sorted(macros - known):
    raise recipe.PreflightError(
        f'{flag} binds {", ".join(unknown)}, which '
        f'{" and ".join(os.path.basename(r) for r in recipes)} do not define; '
        f'their macros: {", ".join(sorted(known))}.')


def _check_checkpoints(run: phase.PhaseRun) -> None:
  """A phase directory must hold this run's model, and no step past its end."""
  found = checkpoint.steps(run.model_dir)
  if found and found[-1] > run.steps:
    raise recipe.PreflightError(
        f'{run.model_dir} holds checkpoint_{found[-1]}, past this phase\'s '
        f'TRAIN_STEPS = {run.steps}: it is another run\'s directory; give '
        'another --workdir.')
  latest = checkpoint.path(run.model_dir, found[-1]) if found else ''
  if latest:  # T5X resumes from the last by name, whole or not
    phase.check_whole(latest)
  if latest and (diff := phase.model_mismatch(
      checkpoint.parameter_shapes(latest), run.shapes)):
    raise recipe.PreflightError(
        f'{latest} is not of the model that '
        f'{os.path.basename(run.phase.recipe)} builds ({diff}); give another '
        '--workdir.')


def check_writable(path: str) -> None:
  """`path`, a directory that ptjf run writes, is one or can be made: not a
  file, and locally under a writable directory (gs:// permissions are the
  bucket's, which only a write would test)."""
  try:
    is_file = tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
  except tf.errors.OpError as e:  # e.g. a scheme TensorFlow does not read
    raise recipe.PreflightError(
        f'{path} cannot be read from this host '
        f'({str(e).splitlines()[0][:200]}): give a local --workdir or a gs:// '
        'one.') from e
  if is_file:
    raise recipe.PreflightError(
        f'{path} is a file, not a directory: give a --workdir that is a '
        'directory, new or one this experiment ran in.')
  if '://' in path:
    return
  parent = os.path.abspath(path)
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise recipe.PreflightError(
        f'{path} cannot be created: {parent} is a file; give a --workdir that '
        'is a directory.')
  # access(2) also says EROFS for root, on a read-only file system
  if not os.access(parent, os.W_OK | os.X_OK):
    raise recipe.PreflightError(
        f'{path} cannot be written: {parent} is on a read-only file system or '
        'not writable by this user; give a --workdir on a writable file '
        'system.')


def check_remote_writes(workdir: str) -> None:
  """A gs:// --workdir takes a file from this host (check_writable tells a
  local one without writing): a probe, removed at once."""
  if '://' not in workdir:
    return
  probe = os.path.join(workdir, f'.ptjf_probe.{socket.gethostname()}.'
                       f'{os.getpid()}')
  try:
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('')
    tf.io.gfile.remove(probe)
  except tf.errors.OpError as e:
    raise recipe.PreflightError(
        f'--workdir {workdir} cannot be written from this host '
        f'({str(e).splitlines()[0][:200]}): give a bucket that this host\'s '
        'service account may write.') from e


def check_host(name: str, runs: Sequence[phase.PhaseRun],
               t5x_flags: Sequence[str], strict: bool) -> list[str]:
  """What only the host that trains can tell: its devices hold each phase's
  mesh and batch, and it reads the remote vocabulary files. Raises
  PreflightError where not, if `strict` or this host has an accelerator;
  else returns the problems as notes (a laptop checking a pod's run)."""
  devices, problems = host.found(t5x_flags), {}
  for run in runs:
    if problem := host.mismatch(run.mesh, devices, name):
      problems.setdefault(problem, []).append(run.phase.arm)
  for path in sorted({p for run in runs for p in run.remote_files}):
    try:
      readable = tf.io.gfile.exists(path)
      problem = '' if readable else 'it does not exist'
    except tf.errors.OpError as e:
      problem = str(e).splitlines()[0][:200]
    if problem:
      problems[f'the vocabulary {path} cannot be read from this host '
               f'({problem}): give a path t5x.train can read here'] = []
  notes = [f'{", ".join(arms)}: {p}' if arms else p
           for p, arms in problems.items()]
  if notes and (strict or devices.accelerated):
    raise recipe.PreflightError(notes[0] + '.')
  return notes


def _config(model_dir: str) -> str:
  """The config.gin T5X wrote in `model_dir` ('' when there is none)."""
  config = os.path.join(model_dir, 'config.gin')
  if not tf.io.gfile.exists(config):
    return ''
  with tf.io.gfile.GFile(config) as f:
    return f.read()


def check_first_phase(model_dir: str) -> None:
  """A --pretrain_dir is a run directory, not one of its checkpoints, and
  restored nothing: the config.gin T5X wrote there binds
  INITIAL_CHECKPOINT_PATH only in a fine-tune (joint_finetune.gin's macro)."""
  if checkpoint.named_as_one(model_dir):  # existing or not, it is no run
    run_dir = os.path.dirname(model_dir.rstrip('/'))
    raise recipe.PreflightError(
        f'--pretrain_dir {model_dir} is a checkpoint, not a run directory: '
        f'give its run directory (--pretrain_dir={run_dir}), whose final '
        'checkpoint the fine-tune restores.')
  if match := _RESTORED.search(_config(model_dir)):
    try:
      restored = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
      restored = match.group(1)
    raise recipe.PreflightError(
        f'--pretrain_dir {model_dir} is a fine-tune, not a first phase: its '
        f'config.gin restores {restored}; give the first phase\'s directory '
        f'(e.g. {os.path.dirname(str(restored))}).')


def prepare(name: str, workdir: str, pretrain_dir: Optional[str] = None,
            phase: str = 'all', gin: Sequence[str] = (),
            pretrain_gin: Sequence[str] = (), finetune_gin: Sequence[str] = (),
            stage_gin: Sequence[str] = (), gin_files: Sequence[str] = (),
            tfds_data_dir: Optional[str] = None,
            check_data: bool = True) -> list[phase.PhaseRun]:
  """Resolves and checks every phase to run; raises PreflightError.
  `check_data=False` leaves out what needs the data downloaded (mC4's JSON
  shards), for the commands that work before it is."""
  if tfds_data_dir:  # as t5x.train sets it: twins read split sizes there
    seqio.set_tfds_data_dir_override(tfds_data_dir)
  scoped = experiment.Bindings(gin, pretrain_gin, finetune_gin, stage_gin)
  try:
    phases = experiment.phases(name)
    experiment.check_flags(name, phases, scoped, pretrain_dir, phase)
    per_phase = [experiment.phase_bindings(phases, i, scoped)
                 for i in range(1 if phase == 'first' else len(phases))]
  except ValueError as e:
    raise recipe.PreflightError(str(e)) from e
  run_dir, mark = checkpoint.run_holding(workdir)
  if run_dir:
    what = ('is' if _normal(run_dir) == _normal(workdir) else
            f'lies in {run_dir},')
    raise recipe.PreflightError(
        f'--workdir {workdir} {what} a T5X run\'s directory (it holds '
        f'{mark}): give the experiment\'s directory, e.g. '
        f'{os.path.dirname(run_dir.rstrip("/"))}.')
  check_writable(workdir)
  check_writable(os.path.join(workdir, 'logs'))  # chain.run_experiment's
  for i in range(len(per_phase)):
    if not (i == 0 and pretrain_dir):  # --pretrain_dir is only read
      check_writable(os.path.join(workdir, phases[i].arm))
  if pretrain_dir:
    check_first_phase(pretrain_dir)
  hints = (['--gin for every stage, --pretrain_gin for this one'] +
           ['--gin for every stage, --finetune_gin for the later ones'] *
           (len(phases) - 1) if len(phases) > 1 else ['--gin'])
  runs, macros = [], {}
  for i, bindings in enumerate(per_phase):
    p = phases[i]
    model_dir = (pretrain_dir if i == 0 and pretrain_dir else
                 os.path.join(workdir, p.arm))
    if p.restores:
      bindings.append(recipe.string_binding('INITIAL_CHECKPOINT_PATH',
                                            runs[-1].final_checkpoint))
    run, macros[i] = _resolve(p, model_dir, bindings, gin_files, hints[i],
                              _where(phases, i, scoped, gin_files), check_data)
    if p.restores:
      run.initial = runs[-1].final_checkpoint
      run.first_step = runs[-1].steps if p.keeps_state else 0
    runs.append(run)
  recipes = [r.phase.recipe for r in runs]
  _check_macros('--gin', gin, set().union(*macros.values()), recipes)
  if runs:
    _check_macros('--pretrain_gin', pretrain_gin, macros[0], recipes[:1])
  if len(runs) > 1:
    _check_macros('--finetune_gin', finetune_gin,
                  set().union(*(macros[i] for i in range(1, len(runs)))),
                  recipes[1:])
  for i, run in enumerate(runs):
    own = [experiment.stage_binding(b)[1] for b in stage_gin
           if experiment.stage_binding(b)[0] == run.phase.arm]
    _check_macros(f'--stage_gin={run.phase.arm}:', own, macros[i],
                  recipes[i:i + 1])
  _check_vocabularies(name, runs)
  for i in range(1, len(runs)):
    _check_link(name, runs[i - 1], runs[i], i == 1 and bool(pretrain_dir))
  for run in runs:
    _check_checkpoints(run)
  return runs


def _check_vocabularies(name: str, runs: Sequence[phase.PhaseRun]) -> None:
  """Every stage of a chain reads and writes the same pieces: a checkpoint
  carried into another vocabulary would embed the wrong tokens."""
  for run in runs[1:]:
    if run.vocabulary != runs[0].vocabulary:
      raise recipe.PreflightError(
          f'the stages of {name} disagree on the vocabulary: '
          f'{os.path.basename(runs[0].phase.recipe)} uses '
          f'{runs[0].vocabulary}, {os.path.basename(run.phase.recipe)} '
          f'{run.vocabulary}; give every stage the same vocabulary.')


def _finished_at(model_dir: str) -> Optional[int]:
  """The TRAIN_STEPS a first phase last ran with, by its config.gin, if it
  finished then (its checkpoint of that step is complete); else None."""
  if not (match := _STEPS.search(_config(model_dir))):
    return None
  steps = int(match.group(1).replace('_', ''))
  return steps if checkpoint.complete(checkpoint.path(model_dir, steps)) else None


def _check_link(name: str, first: phase.PhaseRun, second: phase.PhaseRun,
                given_first: bool) -> None:
  """A stage writes apart from the one it continues, builds its model, and
  restores a whole final checkpoint where there is one (there must be one
  in a --pretrain_dir, `given_first`), unless it has checkpoints of its own
  to resume: then it needs nothing of the stage before. A stage that keeps
  the state goes on past the step where that one ended."""
  if _inside(second.model_dir, first.model_dir) or _inside(
      first.model_dir, second.model_dir):
    raise recipe.PreflightError(
        f'the {second.phase.arm} directory {second.model_dir} and the '
        f'{first.phase.arm} directory {first.model_dir} overlap: give a '
        f'--workdir outside {first.model_dir}, which {second.phase.arm} never '
        'writes.')
  if diff := phase.model_mismatch(first.shapes, second.shapes):
    carried = ('its whole state (gin/phases/continue.gin)'
               if second.phase.keeps_state else 'its parameters')
    raise recipe.PreflightError(
        f'{os.path.basename(first.phase.recipe)} and '
        f'{os.path.basename(second.phase.recipe)} build different models '
        f'({diff.replace("checkpoint", "first")}), so '
        f'{second.phase.arm} cannot take {carried}; bind model settings with '
        '--gin so that every stage gets them.')
  if second.phase.keeps_state and second.steps <= first.steps:
    raise recipe.PreflightError(
        f'{os.path.basename(second.phase.recipe)} keeps the state of '
        f'{os.path.basename(first.phase.recipe)}, which ends at step '
        f'{first.steps}, and its TRAIN_STEPS = {second.steps} is where it '
        f'ends, counted from the chain\'s start: it must exceed '
        f'{first.steps}, e.g. TRAIN_STEPS = {first.steps + max(second.steps, 1)}.')
  if checkpoint.steps(second.model_dir):
    return
  if given_first and not first.done() and (
      steps := _finished_at(first.model_dir)) is not None:
    raise recipe.PreflightError(
        f'--pretrain_dir {first.model_dir} finished at step {steps}, not at '
        f'the first phase\'s TRAIN_STEPS = {first.steps} '
        f'({os.path.basename(first.phase.recipe)}): add '
        f"--pretrain_gin='TRAIN_STEPS = {steps}' to fine-tune from its "
        f'checkpoint_{steps}.')
  if given_first or first.done():
    second.check_initial(first.final_checkpoint,
                         f'--pretrain_dir must hold a finished first phase; '
                         f'finish it with ptjf run {name} --phase=first, or '
                         'leave --pretrain_dir out to train it under '
                         '--workdir.')
