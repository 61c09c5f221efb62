"""Scores a run's checkpoints with `python -m t5x.eval` on each task of the
mixture the run evaluated while training: BLEU of a 4-beam search for
translation, cross-entropy per token for span corruption.

Usage: ptjf eval RUN_DIR... [--checkpoints=last|all|N,...]
                 [--split=validation|test]

RUN_DIR is a phase's directory written by t5x.train (config.gin and
checkpoint_N directories), e.g. DIR/pretrain or DIR/ptjf of `ptjf run`. The
model is the run's own, built from its config.gin less t5x.train's loop,
data, checkpointing and optimizer (`model_config`), with gin/runs/eval.gin.
The data is the run's training-time evaluation mixture (its train_eval
DatasetConfig) with its feature lengths, unpacked; T5X scores each of its
tasks that has metrics alone.

--checkpoints: last (the default: the highest checkpoint_N, T5X's own rule),
all, or steps such as 1000,2000.

Results go beside the run's training summaries, where TensorBoard shows them:
RUN_DIR/inference_eval (RUN_DIR/test/inference_eval for --split=test) gets
T5X's <task>-metrics.jsonl, <task>-<step>.jsonl (inputs, targets and
predictions) and event files, t5x.eval's config.gin and a log per checkpoint
in logs/. The run's own config.gin and model-info.txt are left as they were.
A checkpoint with metrics there for every task is skipped, so the same
command resumes an interrupted evaluation.

Example:
  ptjf eval /tmp/ptjf_tiny/pretrain /tmp/ptjf_tiny/ptjf --checkpoints=all
"""

import contextlib
import dataclasses
import datetime
import json
import os
import re
import sys
import tempfile
import time
from typing import Iterator, Sequence, Union

from absl import flags
import tensorflow as tf

from ptjf import checkpoint
from ptjf import child
from ptjf import experiment
from ptjf import outputs
from ptjf import recipe
from ptjf import summaries
from ptjf import settings

_CHECKPOINTS = flags.DEFINE_string(
    'checkpoints', 'last', 'Which checkpoints of each RUN_DIR: last (the '
    'highest checkpoint_N), all, or steps such as 1000,2000.')
_SPLIT = flags.DEFINE_enum(
    'split', 'validation', ['validation', 'test'], "The tasks' split to score; "
    'test results go to RUN_DIR/test/inference_eval.')

EVAL_GIN = os.path.join(recipe.REPO, 'gin', 'runs', 'eval.gin')
_SECTION = re.compile(r'^# Parameters for (\S+):\n', re.MULTILINE)
_IMPORT = re.compile(r'^(?:from (\S+) )?import (\S+)(?: as (\S+))?$',
                     re.MULTILINE)
# The sections of config.gin that only t5x.train builds: its loop
# (train_script, trainer), its data, checkpointing, and the optimizer and
# learning-rate schedule its trainer alone calls; the model's optimizer_def
# goes too, so eval.gin's None stands. What is left builds the model, the
# partitioner and the evaluation mixture's name as the run built them.
_TRAINING_MODULES = ('__main__', 't5x.trainer', 't5x.optimizers',
                     't5x.adafactor', 'optax')
_TRAINING_CONFIGURABLES = (
    't5x.utils.DatasetConfig', 't5x.utils.CheckpointConfig',
    't5x.utils.SaveCheckpointConfig', 't5x.utils.RestoreCheckpointConfig',
    't5x.utils.create_learning_rate_scheduler')
_OPTIMIZER_DEF = re.compile(r'^\S+\.optimizer_def = (?:.*\\\n)*.*\n',
                            re.MULTILINE)
# DatasetConfig fields of the training-time evaluation that decoding does not
# share: one example per row, and the split --split chooses.
_NOT_COPIED = ('pack', 'split')


class EvalFailed(RuntimeError):
  """t5x.eval failed or was stopped; the message is one line."""


@dataclasses.dataclass
class RunEval:
  """What `ptjf eval` evaluates of one run directory, all checked."""
  run_dir: str
  split: str
  output_dir: str  # EVAL_OUTPUT_DIR: results go to its inference_eval/
  mixture: str
  tasks: list[str]  # those T5X scores: metrics and the split
  unscored: list[str]
  steps: list[int]  # chosen, ascending
  done: dict[int, dict[str, dict]]  # step -> task -> record, evaluated before
  model_gin: str  # eval_config's file, local

  def todo(self) -> list[int]:
    return [s for s in self.steps if s not in self.done]


def write_config(model_dir: str, summary_writer, step: int) -> None:
  """t5x.eval's summarize_config_fn: T5X's, into model_dir/inference_eval."""
  from t5x import gin_utils  # pylint: disable=g-import-not-at-top
  gin_utils.summarize_gin_config(os.path.join(model_dir, 'inference_eval'),
                                 summary_writer, step)


def parse_checkpoints(value: str) -> Union[str, list[int]]:
  """'last', 'all', or the ascending steps of '1000,2000'; ValueError else."""
  if value in ('last', 'all'):
    return value
  parts = [p.strip() for p in value.split(',')]
  if not all(re.fullmatch('[0-9]+', p) for p in parts):
    raise ValueError(f'--checkpoints={value!r} is not last, all, or steps '
                     'such as 1000,2000.')
  return sorted({int(p) for p in parts})


def choose(run_dir: str, spec: Union[str, list[int]]) -> list[int]:
  """The steps `spec` names among the run's checkpoint_N; ValueError when one
  is missing or there are none."""
  found = checkpoint.steps(run_dir)
  if not found:
    raise ValueError(f'{run_dir} has no checkpoints (checkpoint_N '
                     'directories): nothing to evaluate.')
  if spec == 'last':
    return found[-1:]
  if spec == 'all':
    return found
  if missing := [s for s in spec if s not in found]:
    raise ValueError(
        f'{run_dir} has no {", ".join(f"checkpoint_{s}" for s in missing)}: '
        f'its checkpoints are at steps {", ".join(map(str, found))}.')
  return spec


def _modules(preamble: str) -> dict[str, str]:
  """Import alias -> module of a gin file's imports."""
  modules = {}
  for source, name, alias in _IMPORT.findall(preamble):
    modules[alias or name] = f'{source}.{name}' if source else name
  return modules


def _training_only(selector: str, modules: dict[str, str]) -> bool:
  name = selector.rsplit('/', 1)[-1]  # without its scope
  alias = max((a for a in modules if name.startswith(a + '.')), key=len,
              default='')
  full = modules[alias] + name[len(alias):] if alias else name
  return (full.startswith(tuple(m + '.' for m in _TRAINING_MODULES)) or
          any(full == c or full.startswith(c + '.')
              for c in _TRAINING_CONFIGURABLES))


def _sections(config: str) -> tuple[str, list[tuple[str, str]]]:
  """The imports and macros of a T5X config.gin, and its (selector, text)
  sections, each text with its header."""
  parts = _SECTION.split(config)
  return parts[0], [(parts[i], f'# Parameters for {parts[i]}:\n{parts[i + 1]}')
                    for i in range(1, len(parts), 2)]


def model_config(config: str) -> str:
  """The run's config.gin (`config`, as T5X writes it) less the sections of
  t5x.train's own configurables (see _TRAINING_MODULES) and their import of
  __main__: imports, macros, the model and the partitioner as the run had
  them."""
  preamble, sections = _sections(config)
  modules = _modules(preamble)
  preamble = re.sub(r'^import __main__ as \w+\n', '', preamble, flags=re.M)
  kept = [_OPTIMIZER_DEF.sub('', text) for selector, text in sections
          if not _training_only(selector, modules)]
  return preamble + ''.join(kept)


def _values(config: str, selector: str) -> dict[str, str]:
  """Parameter -> value text of one section, continuation lines joined."""
  body = dict(_sections(config)[1]).get(selector, '')
  lines = re.sub(r'\\\n\s*', '', body).splitlines()
  prefix = selector + '.'
  return dict(line[len(prefix):].split(' = ', 1) for line in lines
              if line.startswith(prefix) and ' = ' in line)


def eval_data(config: str) -> list[str]:
  """Bindings of t5x.eval's DatasetConfig from the run's training-time
  evaluation one (its mixture, lengths, batch...), less _NOT_COPIED;
  ValueError when the run evaluated nothing."""
  joined = re.sub(r'\\\n\s*', '', config)
  m = re.search(r'\.train_eval_dataset_cfg = @(\S+)\(\)$', joined, re.M)
  values = _values(config, m.group(1)) if m else {}
  if 'mixture_or_task_name' not in values:
    raise ValueError('its config.gin evaluates no mixture during training '
                     '(no train_eval_dataset_cfg), so there is none to score.')
  return [f'utils.DatasetConfig.{name} = {value}'
          for name, value in sorted(values.items()) if name not in _NOT_COPIED]


def output_dir(run_dir: str, split: str) -> str:
  """EVAL_OUTPUT_DIR: the run's own for validation, as training's
  evaluations; a split apart otherwise (the records do not name it)."""
  return run_dir if split == 'validation' else os.path.join(run_dir, split)


def recorded(out_dir: str, task: str) -> dict[int, dict]:
  """Step -> metrics of `task` in T5X's JSON log (the latest per step). A
  line that is no JSON record (t5x.eval stopped while writing it) is
  skipped, with a warning: its checkpoint counts as not evaluated."""
  path = os.path.join(out_dir, 'inference_eval', f'{task}-metrics.jsonl')
  if not tf.io.gfile.exists(path):
    return {}
  records, bad = [], []
  with tf.io.gfile.GFile(path, 'rb') as f:
    for number, line in enumerate(f, 1):
      try:
        record = json.loads(line) if line.strip() else {}
      except ValueError:  # a cut line, or bytes that are not UTF-8
        record = None
      if isinstance(record, dict):
        records.append(record)
      else:
        bad.append(number)
  if bad:
    summaries.warn(path, f'{len(bad)} line(s) are not JSON records (line '
                   f'{bad[0]} first); skipped them')
  return {r['step']: r for r in records if 'step' in r}


def describe(records: dict[str, dict]) -> str:
  """'ptjf_synth.en_ro bleu 12.35 (nrefs:1|...)', '; ' between tasks."""
  parts = []
  for task, record in sorted(records.items()):
    values = sorted((k, v) for k, v in record.items() if k != 'step')
    parts.append(' '.join(
        [task, *(f'{k} {v:.4g}' for k, v in values
                 if isinstance(v, (int, float))),
         *(f'({v})' for _, v in values if not isinstance(v, (int, float)))]))
  return '; '.join(parts)


def eval_config(config_path: str, config: str) -> str:
  """The gin file t5x.eval reads after eval.gin: the run's model, its
  evaluation data, and where t5x.eval writes its own config.gin."""
  data = '\n'.join(eval_data(config))
  return f"""# {config_path} less t5x.train's own configurables (ptjf eval).
{model_config(config)}
# ptjf eval: the run's training-time evaluation data, unpacked; t5x.eval's
# config.gin goes beside its results, in inference_eval/, not over the run's.
import __main__ as eval_script
from ptjf import evaluate as ptjf_eval
from t5x import utils

{data}
eval_script.evaluate.summarize_config_fn = @ptjf_eval.write_config
"""


def eval_bindings(split: str, checkpoint_path: str, out_dir: str) -> list[str]:
  """What t5x.eval is given on its command line, after the gin files."""
  return [f'utils.DatasetConfig.split = {recipe.gin_string(split)}',
          recipe.string_binding('CHECKPOINT_PATH', checkpoint_path),
          recipe.string_binding('EVAL_OUTPUT_DIR', out_dir)]


def _bindings(run: RunEval, step: int) -> list[str]:
  return eval_bindings(run.split, checkpoint.path(run.run_dir, step),
                       run.output_dir)


def eval_command(run: RunEval, step: int) -> list[str]:
  """`python -m t5x.eval` of one checkpoint: eval.gin, then the run's model
  (its partitioner and macros win), then the split and paths."""
  return recipe.t5x_command('eval', [EVAL_GIN, run.model_gin],
                            _bindings(run, step))


def parse_eval(model_gin: str, bindings: Sequence[str]) -> None:
  """Parses in this process (jax on CPU) what t5x.eval parses."""
  from t5x import eval as t5x_eval  # pylint: disable=g-import-not-at-top
  if not hasattr(sys.modules['__main__'], 'evaluate'):
    sys.modules['__main__'].evaluate = t5x_eval.evaluate  # eval.gin binds it
  recipe.parse(EVAL_GIN, bindings, more_gin_files=[model_gin])


def prepare(run_dir: str, spec: Union[str, list[int]], split: str,
            model_gin: str) -> RunEval:
  """Checks one RUN_DIR and what to evaluate of it, writing its eval_config
  to `model_gin`; ValueError naming what is wrong."""
  if checkpoint.named_as_one(run_dir):  # existing or not, it is no run
    raise ValueError(f'{run_dir} is a checkpoint, not a run directory: give '
                     f'its run directory, {os.path.dirname(run_dir.rstrip("/"))}'
                     ' (--checkpoints chooses its steps).')
  if not tf.io.gfile.isdir(run_dir):
    what = ('is a file' if tf.io.gfile.exists(run_dir) else 'does not exist')
    raise ValueError(f'{run_dir} {what}: give a directory written by '
                     't5x.train (config.gin and checkpoint_N), e.g. '
                     'DIR/pretrain.')
  config_path = os.path.join(run_dir, 'config.gin')
  if not tf.io.gfile.exists(config_path):
    raise ValueError(f'{run_dir} is not a t5x.train run directory: it has no '
                     'config.gin.')
  steps = choose(run_dir, spec)
  with tf.io.gfile.GFile(config_path) as f:
    config = f.read()
  try:
    text = eval_config(config_path, config)
  except ValueError as e:
    raise ValueError(f'{run_dir}: {e}') from None
  outputs.write({model_gin: text})
  run = RunEval(run_dir, split, output_dir(run_dir, split), '', [], [], steps,
                {}, model_gin)
  try:
    parse_eval(model_gin, _bindings(run, steps[-1]))
    run.mixture = recipe.value('utils.DatasetConfig.mixture_or_task_name')
    scored, run.unscored = _tasks(run.mixture, split)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'{config_path} does not give t5x.eval a model and '
                     f'data: {recipe.first_line(e)}') from None
  settings.check_model(settings.where_in(config_path))  # as ptjf run does
  if not scored:
    raise ValueError(
        f'{run_dir}: no task of {run.mixture} has metrics and a {split} split '
        f'({", ".join(run.unscored)}): t5x.eval would score nothing.')
  run.tasks = scored
  logs = {task: recorded(run.output_dir, task) for task in run.tasks}
  run.done = {s: {t: logs[t][s] for t in run.tasks} for s in steps
              if all(s in logs[t] for t in run.tasks)}
  for step in run.todo():
    if problem := checkpoint.verify(checkpoint.path(run_dir, step)):
      raise ValueError(f'{checkpoint.path(run_dir, step)} is not whole '
                       f'({problem}): leave it out with --checkpoints.')
  if run.todo():
    first = checkpoint.path(run_dir, run.todo()[0])
    if recipe.parameter_shapes() != checkpoint.parameter_shapes(first):
      raise ValueError(f'the model built from {config_path} does not have the '
                       f'parameters of {first}: is it another run\'s config?')
  return run


def _tasks(mixture: str, split: str) -> tuple[list[str], list[str]]:
  """The mixture's tasks T5X scores (as seqio.Evaluator picks them), and the
  others."""
  import seqio  # pylint: disable=g-import-not-at-top
  tasks = seqio.get_subtasks(seqio.get_mixture_or_task(mixture))
  scored = seqio.evaluation.get_valid_eval_tasks(tasks, split)
  return ([t.name for t in scored],
          [t.name for t in tasks if t not in scored])


@contextlib.contextmanager
def _kept(path: str) -> Iterator[None]:
  """t5x.eval writes model-info.txt into EVAL_OUTPUT_DIR: the run's own
  (t5x.train's, with the optimizer's state) is put back after it."""
  before = None
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path, 'rb') as f:
      before = f.read()
  try:
    yield
  finally:
    if before is not None:
      outputs.write({path: before})


def evaluate(run: RunEval, step: int) -> tuple[dict[str, dict], str]:
  """Runs t5x.eval on one checkpoint; its metrics per task and the log path.
  Raises EvalFailed when t5x.eval fails, is stopped or writes no metrics."""
  log_dir = os.path.join(run.output_dir, 'inference_eval', 'logs')
  command, log_path = eval_command(run, step), child.log_path(
      log_dir, f'checkpoint_{step}', shared=False)
  tf.io.gfile.makedirs(log_dir)
  with _kept(os.path.join(run.output_dir, 'model-info.txt')):
    process = child.run(command, log_path)
  where = f'checkpoint_{step} of {run.run_dir}'
  root = process.root_error
  if process.signals:
    raise EvalFailed(f'stopped by signal {process.signals[0]} during {where}; '
                     'run the same command again to resume.')
  if process.returncode:
    raise EvalFailed(
        f't5x.eval failed on {where} (exit {process.returncode})'
        + (f' with {root}' if root else '') + f'; full log: {log_path}')
  records = {t: recorded(run.output_dir, t).get(step) for t in run.tasks}
  if missing := sorted(t for t, r in records.items() if r is None):
    raise EvalFailed(f't5x.eval ended on {where} without metrics at step '
                     f'{step} for {", ".join(missing)}; full log: {log_path}')
  return records, log_path


def heading(run: RunEval) -> str:
  unscored = (f'; not scored (no metrics or no {run.split} split): '
              f'{", ".join(run.unscored)}' if run.unscored else '')
  return (f'{run.run_dir}: {run.mixture}, {run.split} split, '
          f'{len(run.tasks)} task(s) -> '
          f'{os.path.join(run.output_dir, "inference_eval")}{unscored}')


def plan(run_dirs: Sequence[str], checkpoints: str, split: str,
         tmp: str) -> list[RunEval]:
  """Checks every run directory before anything is evaluated; ValueError
  naming the first bad value."""
  spec = parse_checkpoints(checkpoints)
  recipe.require_t5x()
  unique = dict.fromkeys(experiment.absolute(d.rstrip('/') or '/')
                         for d in run_dirs)
  return [prepare(d, spec, split, os.path.join(tmp, f'eval_{i}.gin'))
          for i, d in enumerate(unique)]


def main(argv: Sequence[str]) -> None:
  if len(argv) < 2:
    sys.exit('error: no run directory given: ptjf eval RUN_DIR... '
             '[--checkpoints=last|all|N,...] (ptjf eval --help).')
  with tempfile.TemporaryDirectory(prefix='ptjf_eval_') as tmp:
    try:
      runs = plan(argv[1:], _CHECKPOINTS.value, _SPLIT.value, tmp)
    except ValueError as e:
      sys.exit(f'error: {e}')
    for run in runs:
      print(heading(run), flush=True)
      for step in run.steps:
        if step in run.done:
          print(f'  checkpoint_{step}: {describe(run.done[step])}  '
                '[evaluated before; skipped]', flush=True)
          continue
        began = time.time()
        try:
          records, log_path = evaluate(run, step)
        except EvalFailed as e:
          sys.exit(f'error: {e}')
        took = datetime.timedelta(seconds=round(time.time() - began))
        print(f'  checkpoint_{step}: {describe(records)}  [{took}; log: '
              f'{log_path}]', flush=True)
