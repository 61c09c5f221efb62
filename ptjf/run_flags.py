"""The flags of a `ptjf run` call beyond its bindings (those are
ptjf.bindings'): where it runs, which phases, and what t5x.train is given.
Shared by run, check and launch."""

from absl import flags

from ptjf import experiment

WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory of the experiment (local or gs://); each phase '
    'runs in <workdir>/<arm>.')
PRETRAIN_DIR = flags.DEFINE_string(
    'pretrain_dir', None, 'A finished first phase to fine-tune from instead of '
    '<workdir>/<first arm>, e.g. one shared by a sweep. Read only: it must hold '
    'its final checkpoint.')
PHASE = flags.DEFINE_enum(
    'phase', 'all', ['all', 'first'], "'first' runs only the first phase, e.g. "
    'to share it among several fine-tunes through --pretrain_dir.')
_T5X_FLAG = flags.DEFINE_multi_string(
    't5x_flag', [], 'A flag passed as it is to every t5x.train, e.g. '
    '--t5x_flag=--multiprocess_gpu.')


def invocation_from_flags() -> experiment.Invocation:
  """The call the flags describe; raises ValueError without --workdir."""
  if not WORKDIR.value:
    raise ValueError('--workdir is required: the directory where each phase '
                     'runs (local or gs://).')
  return experiment.Invocation(
      _path(WORKDIR),
      pretrain_dir=_path(PRETRAIN_DIR) if PRETRAIN_DIR.value else None,
      first_only=PHASE.value == 'first', t5x_flags=list(_T5X_FLAG.value))


def _path(flag: flags.FlagHolder) -> str:
  """The flag's path made absolute; a URL must name its bucket."""
  scheme, sep, rest = flag.value.partition('://')
  if sep and not rest.split('/')[0]:
    raise ValueError(f'--{flag.name}={flag.value} names no bucket: give '
                     f'{scheme}://BUCKET/DIR, e.g. {scheme}://my-bucket/ptjf.')
  return experiment.absolute(flag.value)
