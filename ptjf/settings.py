"""The settings users change, each with its type and range, in one table
(SETTINGS), checked on the values gin resolved, before any compute: every
command that reads a recipe applies it through ptjf.preflight (ptjf eval
through check_model), and ptjf sweep through `check` for each point.

A row of SETTINGS names the setting as it is bound (a macro, or a
configurable's parameter), the other bindings that set it (NUM_LAYERS sets
the network's layer counts), and what is valid, in words and as a test of
the value. What holds between settings (a warm-up shorter than its run, a
vocabulary that fits the network, microbatches that divide the batch) is in
the functions below the table. A refusal is one line: the binding as the
user wrote it (or the recipe file, where the recipe sets it), the value, and
what would be valid. How the batch splits over the devices' data axis is
ptjf.host's, which knows the devices. Last, the knob a divergence most
likely came from (divergence_hint), which ptjf.chain names.
"""

import ast
import dataclasses
import math
import os
import re
from typing import Any, Callable, Mapping, Optional, Sequence

from ptjf import grid
from ptjf import recipe

# T5X counts steps in an int32 (its train state's step, and the checkpoints').
MAX_STEPS = 2**31 - 1
# XLA indexes an array with int32, so a batch holds at most this many tokens.
MAX_BATCH_TOKENS = 2**31 - 1
# T5X's attention is dense, and its relative position bias builds length x
# length int32 arrays on the host (4 GiB each at 2**15): a longer one cannot init.
MAX_LENGTH = 2**15
# The activation dtypes T5X's configs use (network.T5Config.dtype).
DTYPES = ('float32', 'bfloat16', 'float16')
# The configurables whose parameters the table reads (T5X's names).
NETWORK = 'network.T5Config'
PARTITIONER = 'partitioning.PjitPartitioner'
MICROBATCHES = 'trainer.Trainer.num_microbatches'
# A value a parsed config does not bind.
ABSENT = object()


def _integer(x: Any) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def _number(x: Any) -> bool:
  return (isinstance(x, (int, float)) and not isinstance(x, bool)
          and math.isfinite(x))


def _positive(x: Any) -> bool:
  return _integer(x) and x > 0


def _fraction(x: Any) -> bool:
  return _number(x) and 0 <= x < 1


def _rate(x: Any) -> bool:
  try:
    grid.check_rate(x)
  except ValueError:
    return False
  return True


def _lengths(x: Any) -> bool:
  return (isinstance(x, dict) and bool(x) and all(
      isinstance(k, str) and _positive(n) and n <= MAX_LENGTH
      for k, n in x.items()))


def _dtype(x: Any) -> bool:
  """A name of DTYPES, or the jnp type of one (T5Config's default)."""
  name = x if isinstance(x, str) else getattr(getattr(x, 'dtype', None),
                                               'name', None)
  return name in DTYPES


def _text(x: Any) -> bool:
  return isinstance(x, str) and bool(x)


def _submesh(x: Any) -> bool:
  return (isinstance(x, (tuple, list)) and len(x) == 4
          and all(map(_positive, x)))


@dataclasses.dataclass(frozen=True)
class Setting:
  """One setting users change.

  Attributes:
    name: how it is bound: a macro ('LEARNING_RATE') or a configurable's
      parameter ('network.T5Config.emb_dim').
    valid: what it must be, in words that follow 'it must be'.
    accepts: the test of a value.
    also: other bindings that set it, e.g. the macro a recipe binds it to.
    optional: None is valid too (T5X's default, or 'a new one per run').
  """
  name: str
  valid: str
  accepts: Callable[[Any], bool]
  also: tuple[str, ...] = ()
  optional: bool = False

  @property
  def names(self) -> tuple[str, ...]:
    return (self.name, *self.also)

  def problem(self, value: Any) -> str:
    """'' when `value` is valid, else what is wrong, without its source."""
    if (value is None and self.optional) or self.accepts(value):
      return ''
    return (f'{self.name} is {value!r}; it must be {self.valid}'
            + (', or None' if self.optional else ''))


# Where a setting was given, as a refusal names it.
Where = Callable[[Setting], str]

_POSITIVE = 'a positive integer'
SETTINGS = (
    Setting('TRAIN_STEPS', f'a positive integer at most {MAX_STEPS:,} (T5X '
            'counts steps in an int32)', lambda x: _positive(x) and x <= MAX_STEPS),
    Setting('WARMUP_STEPS', f'an integer from 0 to {MAX_STEPS:,}',
            lambda x: _integer(x) and 0 <= x <= MAX_STEPS),
    Setting('BATCH_SIZE', _POSITIVE, _positive),
    Setting('LEARNING_RATE', 'a finite number > 0 (e.g. 5e-3)',
            lambda x: _number(x) and x > 0),
    Setting('TASK_FEATURE_LENGTHS', "a dict of each feature's length, each a "
            f"positive integer at most {MAX_LENGTH:,} (e.g. {{'inputs': 512, "
            "'targets': 128}; T5X's attention is dense)", _lengths),
    Setting('MIXTURE_OR_TASK_NAME', 'a non-empty string naming a registered '
            'seqio task or mixture (see python -m mixtures.show --list)', _text),
    Setting('MC4_JSON_DIR', "a string, the directory of AllenAI's "
            'c4-<lang>.*.json.gz files, or None to read TFDS c4/multilingual',
            lambda x: x is None or _text(x)),
    Setting('DATA_SEED', 'an integer', _integer, optional=True),
    Setting('RANDOM_SEED', 'an integer', _integer, optional=True),
    # None where no pair mixture reads it (gin/data/pair.gin's single-task arms)
    Setting('HIGH_RESOURCE_RATE', 'a number strictly between 0 and 1 (e.g. '
            '0.1 ... 0.9)', lambda x: x is None or _rate(x)),
    Setting(MICROBATCHES, 'a positive integer that divides BATCH_SIZE',
            _positive, optional=True),
    Setting(f'{PARTITIONER}.model_parallel_submesh', 'a tuple of 4 positive '
            'integers (x, y, z, core), e.g. (1, 1, 8, 1)', _submesh,
            ('MODEL_PARALLEL_SUBMESH',), optional=True),
    Setting(f'{PARTITIONER}.num_partitions', _POSITIVE, _positive,
            ('NUM_PARTITIONS',), optional=True),
    *(Setting(f'{NETWORK}.{size}', _POSITIVE, _positive, also)
      for size, also in [('emb_dim', ()), ('num_heads', ()), ('head_dim', ()),
                         ('mlp_dim', ()), ('num_encoder_layers', ('NUM_LAYERS',)),
                         ('num_decoder_layers', ('NUM_LAYERS',)),
                         ('vocab_size', ())]),
    Setting(f'{NETWORK}.dtype', f'one of {", ".join(map(repr, DTYPES))}, the '
            'activations\' floating dtype', _dtype),
    Setting(f'{NETWORK}.dropout_rate', 'a number from 0 up to, not including, 1',
            _fraction, ('DROPOUT_RATE',)),
    Setting('models.EncoderDecoderModel.label_smoothing', 'a number from 0 up '
            'to, not including, 1', _fraction, ('LABEL_SMOOTHING',)),
)


def _same(bound: str, name: str) -> bool:
  """A binding's name (scope and module path optional) names setting `name`."""
  bound = bound.rsplit('/', 1)[-1]
  return bound == name or name.endswith('.' + bound) or bound.endswith('.' + name)


def find(name: str) -> Setting:
  """The setting a binding's name sets; KeyError if the table has none."""
  for setting in SETTINGS:
    if any(_same(name, n) for n in setting.names):
      return setting
  raise KeyError(name)


def check(name: str, value: Any, written: str) -> None:
  """Raises recipe.PreflightError unless `value` is valid for the setting
  bound as `name` (a macro or parameter of SETTINGS); `written` is where it
  was given, e.g. "--gin='LEARNING_RATE = -1'". A name not in the table
  passes. Pure Python: no gin, no T5X."""
  try:
    setting = find(name)
  except KeyError:
    return
  if problem := setting.problem(value):
    raise recipe.PreflightError(f'{written}: {problem}.')


# --- Where a value was given -------------------------------------------------


def flag_text(flag: str, binding: str) -> str:
  """The binding as given on the command line: --gin.NAME=VALUE (T5X's
  spelling, which ptjf accepts) when it has no spaces, else quoted."""
  if re.fullmatch(r'[\w./]+=\S*', binding):
    return f'{flag}.{binding}'
  quote = '"' if "'" in binding else "'"
  return f'{flag}={quote}{binding}{quote}'


def sources(given: Sequence[tuple[str, str]], gin_files: Sequence[str],
            fallback: str, overrides: Optional[Mapping[str, str]] = None
            ) -> Where:
  """Where a setting was given: the last of `given` ((flag, 'NAME = VALUE'),
  in the order gin applies them) that binds it, else the last of `gin_files`
  whose text binds it, else `overrides` by its name, else `fallback` (the
  recipe)."""
  def where(setting: Setting) -> str:
    for flag, binding in reversed(given):
      if any(_same(recipe.macro_name(binding), n) for n in setting.names):
        return flag_text(flag, binding)
    for path in reversed(gin_files):
      try:
        with open(path) as f:
          text = f.read()
      except OSError:
        continue
      if any(re.search(rf'^\s*{re.escape(n.rsplit(".", 1)[-1])}\s*=', text,
                       re.M) for n in setting.names):
        return f'--gin_file={path}'
    return (overrides or {}).get(setting.name, fallback)
  return where


# --- The values of a parsed config -------------------------------------------


def _bound(name: str) -> Any:
  """The evaluated value of a macro or parameter of the parsed config."""
  if '.' not in name and name not in recipe.macro_names():
    return ABSENT
  try:
    return recipe.value(name)
  except ValueError:  # not bound: T5X's default applies
    return ABSENT


def cosine() -> bool:
  """The parsed config's learning rate is optax's warm-up and cosine decay
  over TRAIN_STEPS (gin/schedules/warmup_cosine.gin), not T5X's factors."""
  return 'LEARNING_RATE_SCHEDULE' in recipe.macro_names()


def _model_values() -> dict[str, Any]:
  """The network's sizes and the model's label smoothing, as built."""
  model = recipe.value('MODEL')
  values = {}
  config = getattr(getattr(model, 'module', None), 'config', None)
  if dataclasses.is_dataclass(config):
    for setting in SETTINGS:
      if setting.name.startswith(NETWORK + '.'):
        field = setting.name[len(NETWORK) + 1:]
        values[setting.name] = getattr(config, field, ABSENT)
  if hasattr(model, '_label_smoothing'):
    values['models.EncoderDecoderModel.label_smoothing'] = (
        model._label_smoothing)  # pylint: disable=protected-access
  return values


def _failing(values: Mapping[str, Any], where: Where) -> None:
  """Raises for the first value of `values` out of its setting's range."""
  for setting in SETTINGS:
    value = values.get(setting.name, ABSENT)
    if value is not ABSENT and (problem := setting.problem(value)):
      raise recipe.PreflightError(f'{where(setting)}: {problem}.')


def check_values(values: Mapping[str, Any], where: Where,
                 finetune: bool, cosine_schedule: bool) -> None:
  """Raises recipe.PreflightError for the first setting of `values` (name
  as in SETTINGS -> value) out of its range, then for what must hold between
  them: see `check_warmup`, `check_microbatches` and `check_batch_tokens`."""
  _failing(values, where)
  steps = values.get('TRAIN_STEPS', ABSENT)
  warmup = values.get('WARMUP_STEPS', ABSENT)
  if steps is not ABSENT and warmup is not ABSENT:
    check_warmup(warmup, steps, _given(where, 'WARMUP_STEPS', 'TRAIN_STEPS'),
                 finetune, cosine_schedule)
  batch = values.get('BATCH_SIZE', ABSENT)
  micro = values.get(MICROBATCHES, ABSENT)
  if batch is not ABSENT and micro not in (ABSENT, None):
    check_microbatches(micro, batch, _given(where, MICROBATCHES, 'BATCH_SIZE'))
  lengths = values.get('TASK_FEATURE_LENGTHS', ABSENT)
  if batch is not ABSENT and lengths is not ABSENT:
    check_batch_tokens(batch, lengths,
                       _given(where, 'BATCH_SIZE', 'TASK_FEATURE_LENGTHS'))


def _given(where: Where, *names: str) -> str:
  """Where the first of two related settings was given, unless only the
  other was given by a flag: the flag is what the user changed."""
  places = [where(find(n)) for n in names]
  return next((p for p in places if p.startswith('--')), places[0])


def check_warmup(warmup: int, steps: int, written: str, finetune: bool,
                 cosine_schedule: bool) -> None:
  """The warm-up fits its phase. Optax's cosine decay runs over TRAIN_STEPS
  less the warm-up, which must leave a step; a fine-tune that is all warm-up
  never reaches its learning rate; T5X's factors (linear_warmup,
  rsqrt_decay) divide by the warm-up, so at step 0 a warm-up of 0 makes the
  learning rate infinite. A pre-training on T5X's factors may warm up for
  longer than it runs: its warm-up is the constant part of the schedule."""
  if cosine_schedule or finetune:
    if warmup >= steps:
      what = ('the cosine decay runs over TRAIN_STEPS less the warm-up'
              if cosine_schedule else 'a fine-tune must reach its learning '
              'rate')
      lowest = int(not cosine_schedule)
      # no warm-up fits so few steps: the steps are what must change
      fix = (f'it must be from {lowest} to {steps - 1}' if steps - 1 >= lowest
             else f'TRAIN_STEPS must be above the warm-up, e.g. TRAIN_STEPS = '
             f'{max(warmup, lowest) + 1}')
      raise recipe.PreflightError(
          f'{written}: WARMUP_STEPS is {warmup!r}, not below TRAIN_STEPS '
          f'{steps} ({what}); {fix}.')
  if not cosine_schedule and warmup < 1:
    raise recipe.PreflightError(
        f'{written}: WARMUP_STEPS is {warmup!r}; T5X\'s schedule divides by '
        'it, so it must be at least 1.')


def check_microbatches(microbatches: int, batch: int, written: str) -> None:
  """Each step splits its batch into microbatches of equal size (T5X
  asserts it); ptjf.host checks that each splits over the data axis."""
  if microbatches > 1 and batch % microbatches:
    raise recipe.PreflightError(
        f'{written}: num_microbatches is {microbatches}, which does not divide '
        f'BATCH_SIZE {batch}; it must divide it, e.g. '
        f'{max(d for d in range(1, microbatches + 1) if not batch % d)}.')


def check_batch_tokens(batch: int, lengths: Mapping[str, int],
                       written: str) -> None:
  """A batch's tokens of its longest feature fit XLA's int32 indices."""
  feature, longest = max(lengths.items(), key=lambda item: item[1])
  if batch * longest > MAX_BATCH_TOKENS:
    raise recipe.PreflightError(
        f'{written}: BATCH_SIZE {batch} x {feature} length {longest} is '
        f'{batch * longest:,} tokens a batch, over the {MAX_BATCH_TOKENS:,} '
        "that XLA's int32 indices reach; BATCH_SIZE must be at most "
        f'{MAX_BATCH_TOKENS // longest:,} with these lengths.')


def check_parsed(where: Where, finetune: bool) -> None:
  """Checks the settings of the parsed config that the model is not built
  from: its macros, the trainer's and the partitioner's (check_model checks
  the model's, once its vocabulary can be read)."""
  values = {s.name: _bound(s.name) for s in SETTINGS
            if not s.name.startswith((NETWORK, 'models.'))}
  check_values(values, where, finetune, cosine())


def vocabulary_size(vocabulary: Any) -> Optional[int]:
  """The size of a seqio vocabulary (its extra ids included) where its file
  is on this host; None for a remote one (check_host reads those) or a
  missing one."""
  path = str(getattr(vocabulary, 'sentencepiece_model_file', ''))
  if '://' in path or (path and not os.path.isfile(path)):
    return None  # datasets.check refuses a missing one
  return vocabulary.vocab_size


def check_model(where: Where) -> None:
  """Checks the network's sizes, its dropout and the model's label
  smoothing as the parsed config builds them, and that the network's
  vocab_size holds the output vocabulary."""
  values = _model_values()
  _failing(values, where)
  size = values.get(f'{NETWORK}.vocab_size', ABSENT)
  vocabulary = getattr(recipe.value('MODEL'), 'output_vocabulary', None)
  if size is ABSENT or vocabulary is None:
    return
  if (needed := vocabulary_size(vocabulary)) and size < needed:
    setting = find(f'{NETWORK}.vocab_size')
    raise recipe.PreflightError(
        f'{where(setting)}: {setting.name} is {size}, smaller than the '
        f'vocabulary ({needed} pieces, its extra ids included); it must be at '
        f'least {needed}, e.g. {-(-needed // 128) * 128} (a multiple of 128).')


def shown(path: str) -> str:
  """A gin file as a refusal names it: relative to the repository if in it."""
  inside = path.startswith(recipe.REPO + os.sep)
  return os.path.relpath(path, recipe.REPO) if inside else path


def where_in(path: str) -> Where:
  """Every setting given in one file, e.g. a run's config.gin."""
  return lambda setting: shown(path)


# --- What a divergence suggests ----------------------------------------------

# T5X writes its config's macros at the top of config.gin, one a line.
_CONFIG_MACRO = re.compile(r'^(WARMUP_STEPS|LEARNING_RATE|TRAIN_STEPS|'
                           r'LEARNING_RATE_SCHEDULE) = (.+)$', re.M)
# The highest learning rate of the paper's grid (App. A.1).
_PAPER_HIGHEST = max(float(x) for axis in grid.AXES
                     if axis.macro == 'LEARNING_RATE' for x in axis.grid)
# T5X's rsqrt schedules peak at 1/sqrt(WARMUP_STEPS); above this, suspect it.
_RSQRT_PEAK = 0.2


def run_values(config: str) -> dict[str, Any]:
  """The macros a divergence hint reads, from the config.gin a t5x.train
  wrote (their text where it is no Python literal)."""
  values = {}
  for name, text in _CONFIG_MACRO.findall(config):
    try:
      values.setdefault(name, ast.literal_eval(text.strip()))
    except (ValueError, SyntaxError):
      values.setdefault(name, text.strip())
  return values


def divergence_hint(values: Mapping[str, Any]) -> str:
  """The knob a divergence most likely came from, and what to do, from the
  run's values (run_values): a warm-up of 0, a learning rate above the
  paper's grid, a warm-up so short that T5X's rsqrt schedule peaks high; else
  the learning rate in general."""
  warmup, rate = values.get('WARMUP_STEPS'), values.get('LEARNING_RATE')
  steps = values.get('TRAIN_STEPS')
  if warmup == 0 and _positive(steps):
    return ('WARMUP_STEPS is 0, so the phase starts at its full learning rate: '
            f'give it a warm-up (e.g. WARMUP_STEPS = {max(steps // 10, 1)})')
  if _number(rate) and rate > _PAPER_HIGHEST:
    return (f"LEARNING_RATE is {rate:g}, above the paper's highest "
            f'({_PAPER_HIGHEST:g}): lower it')
  if ('LEARNING_RATE_SCHEDULE' not in values and _positive(warmup)
      and warmup ** -0.5 > _RSQRT_PEAK):
    return (f"WARMUP_STEPS is {warmup}, so T5X's schedule peaks at a learning "
            f'rate of 1/sqrt({warmup}) = {warmup ** -0.5:.3g}: raise it (e.g. '
            f'WARMUP_STEPS = {math.ceil(_RSQRT_PEAK ** -2)} or more)')
  return 'Lower the learning rate'


def divergence_hint_of(model_dir: str) -> str:
  """divergence_hint of the run whose config.gin is in `model_dir`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    with tf.io.gfile.GFile(os.path.join(model_dir, 'config.gin')) as f:
      return divergence_hint(run_values(f.read()))
  except tf.errors.OpError:
    return divergence_hint({})
