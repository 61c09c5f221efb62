r"""Which data each phase of an experiment reads, and how to get it.

Usage: ptjf data EXPERIMENT [--check=DIR [--quick]] [the binding flags of ptjf run]

For each phase: the tasks its training and its evaluation read, and what they
read underneath: mC4 languages and splits, TFDS datasets, or the synthetic
corpus (generated on the fly, nothing to get). Then the commands that get
them:
  - mC4 from AllenAI's JSON release on the Hugging Face hub, only the
    languages read, for either release (3.1.0, the paper's; 3.0.1, mT5's),
    copied to a bucket and read with --gin.MC4_JSON_DIR;
  - or TFDS's own build (an Apache Beam job over Common Crawl for mC4; plain
    `tfds build` for WMT, with HindEnCorp's manual download for En-Hi).

--check=DIR reads every mC4 shard the experiment needs under DIR to its end
(gzip and JSON; --quick reads each shard's first documents only) and lists
the files and documents per language and split. It exits 1 naming every
missing language or split, gap in the shard numbers, and empty or unreadable
shard; 0 when complete. Nothing is written.

Example:
  ptjf data ptjf_mc4_xxl
  ptjf data ptjf_mc4_xxl --check=gs://my-bucket/c4/multilingual
"""

import concurrent.futures
import os
import sys
from typing import Sequence

from absl import flags

from ptjf import bindings
from ptjf import datasets
from ptjf import experiment
from ptjf import preflight
from ptjf import recipe
from tasks import mc4
from tasks import mc4_json
from tasks import wmt

flags.adopt_module_key_flags(bindings)
_CHECK = flags.DEFINE_string(
    'check', None, "A directory of AllenAI's mC4 JSON shards (local or gs://): "
    'read every shard the experiment needs, and say what is missing or bad.')
_QUICK = flags.DEFINE_bool(
    'quick', False, "With --check: read each shard's first documents only, not "
    'to its end (a truncated file is then not found).')

_RELEASE_NOTE = {'3.1.0': "the paper's: language-ID confidence >= 0.95",
                 '3.0.1': "mT5's"}
_TFDS_DIR = 'gs://BUCKET/tfds'
_JSON_DIR = 'gs://BUCKET/c4/multilingual'


def _describe_reads(found) -> list[str]:
  """One line per role: the mixture read and what it reads underneath."""
  lines = []
  for role, reads in found.items():
    what = {}  # (kind, split) -> names; None -> data generated on the fly
    for _, source, split in reads:
      if isinstance(source, mc4.Mc4Source):
        what.setdefault(('mC4', split), set()).add(source.lang)
      elif hasattr(source, 'tfds_dataset'):
        what.setdefault(('TFDS', split), set()).add(source.tfds_dataset.name)
      else:
        what.setdefault(None, set())
    parts = [f'{key[0]} {", ".join(sorted(names))} ({key[1]})' if key else
             'data generated on the fly (nothing to get)'
             for key, names in what.items()]
    lines.append(f'    {role}: {datasets.mixture_read(role)} reads ' + '; '.join(parts))
  return lines


def _hub_commands(languages: Sequence[str], name: str) -> list[str]:
  patterns = ' \\\n      '.join(
      f"--include='{mc4_json.HUB_FOLDER}/{mc4_json.file_name_glob(lang, split)}'"
      for lang in languages for split in mc4_json.SPLITS)
  lines = ["mC4 from AllenAI's JSON release (allenai/c4 on the Hugging Face hub), "
           'only the languages read, train and validation:']
  for release, branch in mc4_json.HUB_BRANCH.items():
    lines.append(f'  release {release} ({_RELEASE_NOTE[release]}), hub branch {branch}:')
    lines.append(f'    hf download {mc4_json.HUB_DATASET} --repo-type=dataset '
                 f'--revision={branch} --local-dir=mc4 \\\n      {patterns}')
  lines += ['  then copy it to a bucket, check it, and read it:',
            f'    gcloud storage cp -r mc4/{mc4_json.HUB_FOLDER} gs://BUCKET/c4/',
            f'    ptjf data {name} --check={_JSON_DIR}',
            f"    ptjf run {name} --workdir=gs://BUCKET/{name} "
            f"--gin.MC4_JSON_DIR=\"'{_JSON_DIR}'\"",
            '  (mixture rates come from the published size tables, not from the '
            'files, so they are the same with either release.)']
  return lines


def _tfds_commands(names: Sequence[str], with_mc4: bool) -> list[str]:
  lines = [('Or ' if with_mc4 else '') + "TFDS's own build, into the data dir "
           't5x.train reads with --tfds_data_dir:']
  for name in names:
    if name.startswith(mc4.TFDS_NAME):
      lines += ['  mC4 is an Apache Beam job over 72 Common Crawl dumps (Cloud '
                'Dataflow: days, and about $1,000 a day reported for one small '
                'language):',
                f'    tfds build {name} --data_dir={_TFDS_DIR} '
                '--beam_pipeline_options="runner=DataflowRunner,project=PROJECT,'
                'region=REGION,temp_location=gs://BUCKET/tmp"']
    elif name == wmt.PAIRS['en_hi'][0]:
      lines += ['  En-Hi needs HindEnCorp by hand: hindencorp0.1.gz from '
                'http://ufallab.ms.mff.cuni.cz/~bojar/hindencorp into MANUAL_DIR:',
                f'    tfds build {name} --data_dir={_TFDS_DIR} --manual_dir=MANUAL_DIR']
    else:
      lines.append(f'    tfds build {name} --data_dir={_TFDS_DIR}')
  return lines


def _check_directory(directory: str, needed: set[tuple[str, str]],
                     quick: bool) -> tuple[list[str], list[str]]:
  """(what was found, problems) of the mC4 shards `needed` under `directory`."""
  found, problems = mc4_json.find(directory, needed)
  files = [f for s in found for f in s.files]
  read = mc4_json.read_first if quick else mc4_json.read_whole
  with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:  # zlib frees the GIL
    counts = dict(zip(files, pool.map(_try(read), files)))
  problems += [str(c) for c in counts.values() if isinstance(c, mc4_json.BadShardError)]
  lines = []
  for s in found:
    documents = sum(counts[f] for f in s.files if isinstance(counts[f], int))
    shown = 'first documents read' if quick else f'{documents:,} documents'
    files = len(s.files)
    lines.append(f'  {s.lang:<8} {s.split:<10} {files:>6,} file{"s" if files != 1 else " "}  '
                 + (shown if s.files else '-')
                 + (f'  (release {s.release})' if s.release else ''))
  return lines, problems


def _try(read):
  def attempt(path):
    try:
      return read(path)
    except mc4_json.BadShardError as e:
      return e
  return attempt


def main(argv):
  try:
    name = experiment.from_argv(argv)
    if _QUICK.value and not _CHECK.value:
      raise ValueError('--quick goes with --check=DIR: it reads fewer of the '
                       'shards --check reads.')
    recipe.require_t5x()
    extra = bindings.pass_through_from_flags()
    runs = preflight.prepare(name, '<workdir>', gin_files=extra.gin_files,
                             tfds_data_dir=extra.tfds_data_dir, check_data=False,
                             **extra.bindings)
    needed, tfds_names, lines, bound = set(), set(), [], set()
    for i, run in enumerate(runs, 1):
      run.parse(extra.gin_files)
      found = datasets.reads()
      needed |= datasets.mc4_json_reads(found)
      tfds_names |= {s.tfds_dataset.name for role in found.values()
                     for _, s, _ in role if hasattr(s, 'tfds_dataset')
                     and not isinstance(s, mc4.Mc4Source)}
      if datasets.mc4_json_reads(found):
        tfds_names.add(f'{mc4.TFDS_NAME}:{mc4.mc4_tfds_version()}')
        bound.add(mc4.mc4_json_dir())
      lines += [f'[{i}/{len(runs)}] {run.phase.arm}: '
                f'{os.path.relpath(run.phase.recipe, recipe.REPO)}',
                *_describe_reads(found)]
    if _CHECK.value and not needed:
      raise ValueError(f'{name} reads no mC4: --check checks the JSON shards '
                       'of the ptjf_mc4.* tasks.')
    if _CHECK.value:
      mc4_json.find(_CHECK.value, ())  # a directory that is not one: one line
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')
  languages = sorted({lang for lang, _ in needed})
  print('\n'.join(lines))
  if needed:
    where = ', '.join(sorted(f'{d} (MC4_JSON_DIR)' if d else
                             'TFDS (MC4_JSON_DIR unset)' for d in bound))
    print(f'\nmC4 languages read: {", ".join(languages)}; from {where}')
  if not _CHECK.value:
    if needed:
      print('\n' + '\n'.join(_hub_commands(languages, name)))
    if tfds_names:
      print('\n' + '\n'.join(_tfds_commands(sorted(tfds_names), bool(needed))))
    if not needed and not tfds_names:
      print('\nNothing to get: every task is generated on the fly.')
    return
  found, problems = _check_directory(_CHECK.value, needed, _QUICK.value)
  print(f'\n{_CHECK.value}:')
  print('\n'.join(found))
  for problem in problems:
    print(f'missing or bad: {problem}', file=sys.stderr)
  if problems:
    sys.exit(f'error: {_CHECK.value} does not hold every mC4 shard {name} reads '
             f'whole: {len(problems)} problem{"s" * (len(problems) > 1)} above.')
  print(f'ok: {_CHECK.value} holds every mC4 shard {name} reads'
        + (' (first documents of each read).' if _QUICK.value else ', read whole.'))
