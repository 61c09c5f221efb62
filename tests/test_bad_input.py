"""Bad input at every door, as a new user would type it: each is refused
before training with one line naming the bad value and the fix, and nothing
on disk is written or deleted (nor is any seqio registration changed).

The command-line cases run `ptjf` in this process and `python -m
mixtures.show` as a child; those that read a recipe need T5X and skip
without it.
"""

import os

import numpy as np
import pytest
import seqio

from mixtures import rates
from mixtures import registry
from ptjf import recipe
from tasks import mc4
from tasks import synthetic
from tasks import vocab
from tasks import wmt

TINY = 'ptjf_synth_mc4_tiny'
RO_FR = 'ptjf_synth_ro_fr_tiny'


def write_checkpoint(path, shapes, step):
  """A checkpoint of parameters of `shapes` (zeros), as T5X's Orbax lays it out."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  target = {}
  for name, shape in shapes.items():
    *parents, leaf = name.split('/')
    node = target
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = np.zeros(shape, np.float32)
  ocp.PyTreeCheckpointer().save(os.path.join(path, 'state'), {
      'target': target, 'state': {'step': np.int32(step)}})


@pytest.fixture(scope='module')
def disk(tmp_path_factory):
  """Directories a user might point at: an empty one, a half-written
  checkpoint, and a finished pre-training of a bigger model."""
  root = tmp_path_factory.mktemp('disk')
  (root / 'empty').mkdir()
  partial = root / 'partial' / 'checkpoint_160'
  (partial / 'state' / 'd').mkdir(parents=True)  # killed before _METADATA
  (partial / 'state' / 'd' / 'abc').write_bytes(b'\0' * 64)
  (root / 'early' / 'checkpoint_80').mkdir(parents=True)  # stopped mid-way
  (root / 'afile').write_text('not a directory\n')
  (root / 'logfile').mkdir()  # an experiment's directory whose logs is a file
  (root / 'logfile' / 'logs').write_text('not a directory\n')
  (root / 'empty.gin').write_text('')
  (root / 'static_my_tiny.gin').write_text(  # a user's recipe, its own batch
      "include 'recipes/static_synth_mc4_tiny.gin'\nBATCH_SIZE = 0\n")
  (root / 'dir.gin').mkdir()
  (root / 'finetuned').mkdir()  # a fine-tune's directory, as T5X records it
  (root / 'finetuned' / 'config.gin').write_text(
      "INITIAL_CHECKPOINT_PATH = '/runs/tiny/pretrain/checkpoint_160'\n")
  (root / 'evaluated' / 'ptjf' / 'training_eval' / 't.one').mkdir(parents=True)
  damaged = root / 'damaged' / 'ptjf' / 'training_eval' / 't.one'
  damaged.mkdir(parents=True)  # event files of random bytes, or none
  (damaged / 'events.out.tfevents.1.host').write_bytes(bytes(range(256)))
  (damaged / 'events.out.tfevents.2.host').write_bytes(b'')
  (root / 'figure.png').mkdir()
  for name, text in [('locked', ''), ('foreign_lock', '{"owner": "me"}\n')]:
    (root / name).mkdir()  # a lock file ptjf run did not write
    (root / name / 'ptjf_run.lock').write_text(text)
  (root / 'badtext.gin').write_text('X = 1\nLEARNING_RATE = 1e-3 +\n')
  (root / 'binary.gin').write_bytes(b'\x7fELF\x02\x01\x01\x00\x00\x00')
  (root / 'latin1.gin').write_bytes(b'NAME = "caf\xe9"\n')
  (root / 'pretrain_bin_tiny.gin').write_bytes(b'TRAIN_STEPS = 3\n\x00\x01')
  (root / 'pretrain_latin_tiny.gin').write_bytes(b'# \xff\nTRAIN_STEPS = 3\n')
  (root / 'pretrain_inc_tiny.gin').write_text(
      "include 'recipes/pretrain_synth_mc4_tiny.gin'\n"
      f"include '{root / 'badtext.gin'}'\n")
  if not recipe.t5x_missing():
    recipe.parse(os.path.join(recipe.RECIPES_DIR, 'pretrain_synth_mc4_tiny.gin'),
                 ['MODEL_DIR = "/unused"', 'network.T5Config.emb_dim = 96'])
    write_checkpoint(str(root / 'wider' / 'checkpoint_160'),
                     recipe.parameter_shapes(), 160)
    for steps in (80, 200):  # first phases that finished at other steps
      write_checkpoint(str(root / f'steps{steps}' / f'checkpoint_{steps}'),
                       recipe.parameter_shapes(), steps)
      (root / f'steps{steps}' / 'config.gin').write_text(
          f'TRAIN_STEPS = {steps}\n')
  return root


# (id, argv after `ptjf`, or a `python -m` module's argv, the message's start)
COMMAND_LINE = [
    ('unknown command', ['train'], "error: unknown command 'train': expected one of"),
    ('no workdir', ['run', TINY], '--workdir is required'),
    ('bad phase', ['run', TINY, '--workdir={w}', '--phase=second'],
     'value should be one of <all|first>'),
    ('misspelt flag', ['check', TINY, '--workdirr={w}'],
     "Unknown command line flag 'workdirr'"),
    ('unknown mixture to show', ['-m', 'mixtures.show', 'ptjf_synth.tau0'],
     "unknown mixture or task 'ptjf_synth.tau0'"),
    ('unknown module to show', ['-m', 'mixtures.show', '--module=no_such_module',
                                'ptjf_synth.en'],
     "error: --module=no_such_module: no module named 'no_such_module' on the "
     'Python path'),
    ('plot with one task as high and low',
     ['plot', '{d}/evaluated', '--high_task=t.one', '--low_task=t.one',
      '--output={w}/trade_off'],
     "error: the high- and low-resource tasks are both 't.one': a trade-off "
     'needs two tasks'),
    ('launch to a bucketless gs://',
     ['launch', 'ptjf_synth_ro_fr_tiny', '--tpu=t', '--zone=us-central2-b', '--workdir=gs://'],
     'error: --workdir=gs:// names no bucket: give gs://BUCKET/DIR'),
    ('launch to gs:///x',
     ['launch', 'ptjf_synth_ro_fr_tiny', '--tpu=t', '--zone=us-central2-b', '--workdir=gs:///x'],
     'error: --workdir=gs:///x names no bucket'),
    ('launch to a zone without its letter',
     ['launch', RO_FR, '--tpu=t', '--zone=us-central2', '--workdir=gs://b/w'],
     "error: --zone='us-central2' is not a zone: give REGION-ZONE in lower "
     'case, e.g. us-central2-b.'),
    ('launch to a zone in upper case',
     ['launch', RO_FR, '--tpu=t', '--zone=US-CENTRAL2-B', '--workdir=gs://b/w',
      '--accelerator_type=v4-8'],
     "error: --zone='US-CENTRAL2-B' is not a zone: give REGION-ZONE"),
    ('launch to a TPU name in upper case',
     ['launch', RO_FR, '--tpu=PTJF_XXL', '--zone=us-central2-b', '--workdir=gs://b/w'],
     "error: --tpu='PTJF_XXL' is not a TPU VM name: give 1 to 63 lower-case "
     'letters, digits or hyphens, starting with a letter and not ending with '
     'a hyphen, e.g. ptjf-xxl.'),
    ('launch to a TPU name with a space',
     ['launch', RO_FR, '--tpu=my tpu', '--zone=us-central2-b', '--status'],
     "error: --tpu='my tpu' is not a TPU VM name"),
    ('launch to a TPU name with shell text',
     ['launch', RO_FR, '--tpu=x;rm -rf ~', '--zone=us-central2-b', '--workdir=gs://b/w'],
     "error: --tpu='x;rm -rf ~' is not a TPU VM name"),
    ('launch to a TPU name too long',
     ['launch', RO_FR, '--tpu=' + 't' * 80, '--zone=us-central2-b', '--workdir=gs://b/w'],
     "is not a TPU VM name: give 1 to 63"),
    ('launch to a TPU name not in ASCII',
     ['launch', RO_FR, '--tpu=tpü', '--zone=us-central2-b', '--workdir=gs://b/w'],
     "error: --tpu='tpü' is not a TPU VM name"),
    ('launch --status of an empty zone',
     ['launch', RO_FR, '--tpu=t', '--zone=', '--status'],
     "error: --zone='' is not a zone: give REGION-ZONE"),
    ('sweep gin files into a file',
     ['sweep', 'ptjf_synth_ro_fr_tiny', '--format=gin', '--root={d}/afile',
      '--high_rates=0.3'],
     'afile is a file: give a directory (new or existing) for the gin files'),
    ('sweep gin files under a file',
     ['sweep', 'ptjf_synth_ro_fr_tiny', '--format=gin', '--root={d}/afile/sub',
      '--high_rates=0.3'],
     'error: --root={d}/afile/sub: {d}/afile is a file, so '
     '{d}/afile/sub/pretrain.gin cannot be created under it'),
    ('plot output under a file',
     ['plot', '{d}/evaluated', '--output={d}/afile/x.png'],
     'error: --output={d}/afile/x.png: {d}/afile is a file, so {d}/afile/x.png '
     'cannot be created under it: give a path in a directory.'),
    ('plot output deep under a file',
     ['plot', '{d}/evaluated', '--output={d}/afile/plots/front'],
     '{d}/afile is a file, so {d}/afile/plots/front.png cannot be created'),
    ('plot output a directory', ['plot', '{d}/evaluated', '--output={d}/figure'],
     'error: --output={d}/figure: {d}/figure.png is a directory: give the path '
     'of a file to write.'),
    ('plot output empty', ['plot', '{d}/evaluated', '--output='],
     "error: --output=: '.png' has no file name before its extension: give a "
     'path that ends in a name.'),
    ('plot output only an extension', ['plot', '{d}/evaluated', '--output={w}/.csv'],
     "/.png' has no file name before its extension"),
    ('plot of damaged event files only', ['plot', '{d}/damaged', '--output={w}'],
     'error: none of the 2 evaluation event file(s) of 1 run(s) can be read '
     '(each is named above): nothing is left to show.'),
    ('vocabulary output under a file',
     ['-m', 'tasks.train_vocab', '--mixture=ptjf_synth.tau3.33',
      '--output={d}/afile/v.model'],
     'error: --output={d}/afile/v.model: {d}/afile is a file, so '
     '{d}/afile/v.model cannot be created under it'),
    ('plan schedule under a file',
     ['plan', TINY, '--schedule_png={d}/afile/lr.png'],
     'error: --schedule_png={d}/afile/lr.png: {d}/afile is a file, so '
     '{d}/afile/lr.png cannot be created under it'),
    # --t5x_flag: only what t5x.train defines and ptjf does not set itself
    ('t5x_flag with gin bindings',
     ['run', TINY, '--workdir={w}', '--t5x_flag=--gin_bindings=LEARNING_RATE=1'],
     'error: --t5x_flag=--gin_bindings=LEARNING_RATE=1: ptjf sets --gin_bindings '
     'for t5x.train itself and checks it: give it with --gin, --pretrain_gin, '
     '--finetune_gin or --stage_gin.'),
    ('t5x_flag in T5X spelling', ['check', TINY, '--workdir={w}',
                                 '--t5x_flag=--gin.LEARNING_RATE=-1'],
     'error: --t5x_flag=--gin.LEARNING_RATE=-1: ptjf sets --gin for t5x.train'),
    ('t5x_flag with a gin file', ['check', TINY, '--workdir={w}',
                                 '--t5x_flag=--gin_file=x.gin'],
     'ptjf sets --gin_file for t5x.train itself and checks it: give it with '
     '--gin_file.'),
    ('t5x_flag with gin search paths (launch)',
     ['launch', 'ptjf_synth_ro_fr_tiny', '--tpu=t', '--zone=us-central2-b', '--workdir=gs://b/w',
      '--t5x_flag=--gin_search_paths=/x'],
     'error: --t5x_flag=--gin_search_paths=/x: ptjf sets --gin_search_paths'),
    ('t5x_flag with a model dir', ['run', TINY, '--workdir={w}',
                                  '--t5x_flag=--model_dir=/x'],
     'error: --t5x_flag=--model_dir=/x: MODEL_DIR is set by ptjf run from '
     '--workdir and --pretrain_dir; do not set it.'),
    ('t5x_flag not a flag', ['run', TINY, '--workdir={w}',
                            '--t5x_flag=multiprocess_gpu'],
     'error: --t5x_flag=multiprocess_gpu is not a flag: give '
     '--t5x_flag=--NAME=VALUE'),
    # names longer than the file system takes
    ('workdir name too long (check)', ['check', TINY, '--workdir={w}/' + 'n' * 300],
     'error: --workdir: the name nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn... is '
     '300 bytes long, over the 255 bytes the file system at'),
    ('workdir name too long (run)', ['run', TINY, '--workdir={w}/' + 'n' * 256],
     'error: --workdir: the name nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn... is '
     '256 bytes long'),
    ('pretrain_dir name too long', ['check', TINY, '--workdir={w}',
                                    '--pretrain_dir={w}/' + 'p' * 400],
     'error: --pretrain_dir: the name pppppppppppppppppppppppppppppppppppppppp... '
     'is 400 bytes long'),
    ('workdir path too long',
     ['run', TINY, '--workdir={w}/' + '/'.join(['d' * 200] * 21)],
     'error: --workdir: the path is'),
    ('workdir path with no room for checkpoints',  # ~3,900 bytes
     ['check', TINY, '--workdir={w}/' + '/'.join(['d' * 200] * 19)],
     'bytes long; with the 256 bytes its runs write below it, over the 4096'),
    # text that is not gin, named by its flag or file and line
    ('sweep binding an expression', ['sweep', 'ptjf_synth_ro_fr_tiny', '--root={w}',
                                    '--high_rates=0.3', '--gin=LEARNING_RATE = 1e-3 +'],
     "error: --gin='LEARNING_RATE = 1e-3 +' is not a gin binding: Expected "
     'newline; write NAME = VALUE with a Python literal or %MACRO.'),
    ('sweep binding empty', ['sweep', 'ptjf_synth_ro_fr_tiny', '--root={w}',
                            '--high_rates=0.3', '--pretrain_gin='],
     "error: --pretrain_gin='' is empty: write NAME = VALUE"),
    ('sweep gin file with bad text', ['sweep', 'ptjf_synth_ro_fr_tiny', '--root={w}',
                                     '--high_rates=0.3', '--gin_file={d}/badtext.gin'],
     'badtext.gin line 2 is not gin: Expected newline; write NAME = VALUE'),
    ('sweep gin file missing', ['sweep', 'ptjf_synth_ro_fr_tiny', '--root={w}',
                               '--high_rates=0.3', '--gin_file=no_such.gin'],
     'error: --gin_file=no_such.gin: '),
    ('sweep gin file binary', ['sweep', 'ptjf_synth_ro_fr_tiny', '--root={w}',
                              '--high_rates=0.3', '--gin_file={d}/binary.gin'],
     'binary.gin is a binary file, not gin text: give a gin file'),
    ('sweep recipe binary', ['sweep', '{d}/pretrain_bin_tiny.gin', '--root={w}'],
     "pretrain_bin_tiny.gin' is a binary file, not gin text"),
    # every point a sweep prints is checked as its own ptjf run checks it
    ('sweep warm-up past the fine-tune',
     ['sweep', 'ptjf_wmt_ro_fr_3layer', '--root={w}', '--learning_rates=5e-3',
      '--high_rates=0.3', '--warmups=20000,60000'],
     'error: point lr0.005/high0.3_warmup60000: --warmups=60000: WARMUP_STEPS is '
     '60000, not below TRAIN_STEPS 50000'),
    ('sweep steps past int32',
     ['sweep', 'ptjf_mc4_xl', '--root={w}', '--taus=none',
      '--pretrain_steps=100000,5000000000', '--fix=finetune'],
     'error: point pretrain5000000000: --pretrain_steps=5000000000: TRAIN_STEPS '
     'is 5000000000; it must be a positive integer at most 2,147,483,647'),
    ('sweep of thousands without --yes',
     ['sweep', 'ptjf_wmt_ro_fr_3layer', '--root={w}',
      '--learning_rates=' + ','.join(f'{i}e-5' for i in range(1, 301))],
     'error: this sweep makes 11100 ptjf run commands, more than 1000: give --yes'),
    ('sweep of thousands of gin files without --yes',
     ['sweep', 'ptjf_wmt_ro_fr_3layer', '--root={w}', '--format=gin',
      '--warmups=' + ','.join(str(i) for i in range(1000, 31000, 1000))],
     'error: this sweep makes 1355 gin files, more than 1000: give --yes'),
]
COMMAND_LINE_T5X = [
    ('unknown recipe', ['check', 'ptjf_mc4_xxxl', '--workdir={w}'],
     "error: unknown experiment 'ptjf_mc4_xxxl': did you mean ptjf_mc4_xxl"),
    ('REQUIRED macro unbound', ['check', 'ptjf_synth_ro_fr_tiny', '--workdir={w}'],
     'error: recipes/ptjf_synth_ro_fr_tiny.gin leaves HIGH_RESOURCE_RATE '
     "unbound: bind --gin='HIGH_RESOURCE_RATE = ...'"),
    ('misspelt macro', ['run', TINY, '--workdir={w}', '--gin.LEARNING_RATES=1e-3'],
     'error: --gin binds LEARNING_RATES, which pretrain_synth_mc4_tiny.gin and '
     'ptjf_synth_mc4_tiny.gin do not define'),
    ('negative steps', ['run', TINY, '--workdir={w}', '--gin=TRAIN_STEPS = -5'],
     "error: --gin='TRAIN_STEPS = -5': TRAIN_STEPS is -5; it must be a positive "
     'integer at most 2,147,483,647'),
    ('unknown mixture (tau 0)', ['check', 'static_synth_mc4_tiny', '--workdir={w}',
                                "--gin=MIXTURE_OR_TASK_NAME = 'ptjf_synth.tau0'"],
     "error: recipes/static_synth_mc4_tiny.gin: 'ptjf_synth.tau0' is not a "
     'registered seqio task or mixture'),
    ('split the tasks lack', ['check', TINY, '--workdir={w}',
                             "--gin=train_eval/utils.DatasetConfig.split = 'test'"],
     "error: recipes/pretrain_synth_mc4_tiny.gin: task ptjf_synth.en of "
     "ptjf_synth.en_only has no 'test' split, which train_eval reads; its "
     'splits: train, validation'),
    ('targets too short for span corruption',
     ['check', TINY, '--workdir={w}',
      "--gin=TASK_FEATURE_LENGTHS = {'inputs': 128, 'targets': 16}"],
     '''error: --gin="TASK_FEATURE_LENGTHS = {'inputs': 128, 'targets': 16}": '''
     'TASK_FEATURE_LENGTHS targets 16 is too short for span corruption of 128 input tokens (task '
     'ptjf_synth.en): it produces 29 target tokens; set targets to at least 29'),
    ('missing vocabulary file',
     ['run', TINY, '--workdir={w}',
      "--gin=ptjf.synthetic_vocabulary.path = '/nowhere/spm.model'"],
     "SentencePiece model '/nowhere/spm.model' does not exist: bind "
     'ptjf.synthetic_vocabulary.path to an existing .model file'),
    ('missing checkpoint', ['run', TINY, '--workdir={w}', '--pretrain_dir={d}/empty'],
     'checkpoint_160 is missing or incomplete (checkpoints there: none): '
     '--pretrain_dir must hold a finished first phase'),
    ('partial checkpoint', ['check', TINY, '--workdir={w}', '--pretrain_dir={d}/partial'],
     'partial/checkpoint_160 is broken (state/_METADATA is missing): move '
     'checkpoint_160 out of '),
    ('unfinished pre-training', ['check', TINY, '--workdir={w}',
                                '--pretrain_dir={d}/early'],
     'checkpoint_160 is missing or incomplete (checkpoints there: [80])'),
    ('checkpoint of another model size',
     ['run', TINY, '--workdir={w}', '--pretrain_dir={d}/wider'],
     '27 parameters differ, e.g. decoder/decoder/encoder_decoder_attention/'
     'key/kernel: (96, 2, 2, 32) in the checkpoint, (64, 2, 2, 32) in the recipe)'),
    ('fine-tune dir is the pre-training dir',
     ['run', TINY, '--workdir={d}', '--pretrain_dir={d}/ptjf'],
     'ptjf overlap: give a --workdir outside'),
    ('phases of different models', ['check', TINY, '--workdir={w}',
                                    '--finetune_gin=network.T5Config.emb_dim = 32'],
     'pretrain_synth_mc4_tiny.gin and ptjf_synth_mc4_tiny.gin build different '
     'models'),
    ('misspelt parameter', ['check', TINY, '--workdir={w}',
                            '--finetune_gin=network.T5Config.emb_dimx = 32'],
     "doesn't have a parameter named 'emb_dimx'"),
    ('phase bindings on a one-phase recipe',
     ['run', 'static_synth_mc4_tiny', '--workdir={w}', '--pretrain_gin=TRAIN_STEPS = 3'],
     'error: static_synth_mc4_tiny has one phase: give its bindings with --gin'),
    ('fine-tune bindings with --phase=first',
     ['run', TINY, '--workdir={w}', '--phase=first', '--finetune_gin=WARMUP_STEPS = 3'],
     'error: --finetune_gin with --phase=first: the fine-tune does not run'),
    ('MODEL_DIR bound by hand', ['run', TINY, '--workdir={w}',
                                 "--gin=MODEL_DIR = '/elsewhere'"],
     'error: MODEL_DIR is set by ptjf run from --workdir and --pretrain_dir; do '
     'not bind it'),
    ('non-integer seed', ['check', TINY, '--workdir={w}', "--gin=DATA_SEED = 'x'"],
     '''error: --gin="DATA_SEED = 'x'": DATA_SEED is 'x'; it must be an '''
     'integer, or None'),
    ('boolean steps', ['run', TINY, '--workdir={w}', '--gin=TRAIN_STEPS = True'],
     "error: --gin='TRAIN_STEPS = True': TRAIN_STEPS is True; it must be a "
     'positive integer'),
    # The settings table (ptjf/settings.py), several values per setting.
    ('negative learning rate',
     ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
      '--gin.LEARNING_RATE=-1'],
     'error: --gin.LEARNING_RATE=-1: LEARNING_RATE is -1; it must be a finite '
     'number > 0'),
    ('learning rate a string',
     ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
      "--finetune_gin=LEARNING_RATE = '1e-3'"],
     """error: --finetune_gin="LEARNING_RATE = '1e-3'": LEARNING_RATE is """
     "'1e-3'; it must be a finite number > 0"),
    ('learning rate zero',
     ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
      '--pretrain_gin=LEARNING_RATE = 0'],
     "error: --pretrain_gin='LEARNING_RATE = 0': LEARNING_RATE is 0"),
    ('batch of zero', ['check', TINY, '--workdir={w}', '--gin=BATCH_SIZE = 0'],
     "error: --gin='BATCH_SIZE = 0': BATCH_SIZE is 0; it must be a positive "
     'integer'),
    ('batch of zero in the recipe', ['check', '{d}/static_my_tiny.gin',
                                     '--workdir={w}'],
     'static_my_tiny.gin: BATCH_SIZE is 0; it must be a positive integer'),
    ('negative warm-up', ['check', TINY, '--workdir={w}', '--gin=WARMUP_STEPS = -3'],
     "error: --gin='WARMUP_STEPS = -3': WARMUP_STEPS is -3; it must be an "
     'integer from 0 to 2,147,483,647'),
    ('no warm-up under rsqrt', ['check', TINY, '--workdir={w}',
                                '--pretrain_gin=WARMUP_STEPS = 0'],
     "error: --pretrain_gin='WARMUP_STEPS = 0': WARMUP_STEPS is 0; T5X's "
     'schedule divides by it, so it must be at least 1'),
    ('fine-tune warm-up past its steps',
     ['check', TINY, '--workdir={w}', '--finetune_gin=WARMUP_STEPS = 500'],
     "error: --finetune_gin='WARMUP_STEPS = 500': WARMUP_STEPS is 500, not "
     'below TRAIN_STEPS 160 (a fine-tune must reach its learning rate); it '
     'must be from 1 to 159'),
    ('NMT warm-up past its steps',
     ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
      '--pretrain_gin.WARMUP_STEPS=400'],
     'error: --pretrain_gin.WARMUP_STEPS=400: WARMUP_STEPS is 400, not below '
     'TRAIN_STEPS 400 (the cosine decay runs over TRAIN_STEPS less the '
     'warm-up); it must be from 0 to 399'),
    ('steps past the step counter',
     ['check', TINY, '--workdir={w}', '--gin=TRAIN_STEPS = 2_147_483_648'],
     "error: --gin='TRAIN_STEPS = 2_147_483_648': TRAIN_STEPS is 2147483648; "
     'it must be a positive integer at most 2,147,483,647'),
    ('vocab_size below the vocabulary',
     ['check', TINY, '--workdir={w}', '--gin=network.T5Config.vocab_size = 1024'],
     "error: --gin='network.T5Config.vocab_size = 1024': "
     'network.T5Config.vocab_size is 1024, smaller than the vocabulary (1636 '
     'pieces, its extra ids included); it must be at least 1636, e.g. 1664'),
    ('emb_dim of zero', ['check', TINY, '--workdir={w}',
                         '--gin.network.T5Config.emb_dim=0'],
     'error: --gin.network.T5Config.emb_dim=0: network.T5Config.emb_dim is 0; '
     'it must be a positive integer'),
    ('no layers', ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
                   '--gin=NUM_LAYERS = 0'],
     "error: --gin='NUM_LAYERS = 0': network.T5Config.num_encoder_layers is 0"),
    ('heads a float', ['check', TINY, '--workdir={w}',
                       '--gin=network.T5Config.num_heads = 2.0'],
     'network.T5Config.num_heads is 2.0; it must be a positive integer'),
    ('dropout of 1', ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
                      '--gin=DROPOUT_RATE = 1.0'],
     "error: --gin='DROPOUT_RATE = 1.0': network.T5Config.dropout_rate is 1.0; "
     'it must be a number from 0 up to, not including, 1'),
    ('negative label smoothing',
     ['check', RO_FR, '--workdir={w}', '--gin.HIGH_RESOURCE_RATE=0.5',
      '--finetune_gin=LABEL_SMOOTHING = -0.1'],
     "error: --finetune_gin='LABEL_SMOOTHING = -0.1': "
     'models.EncoderDecoderModel.label_smoothing is -0.1'),
    ('feature length of zero',
     ['check', TINY, '--workdir={w}',
      "--gin=TASK_FEATURE_LENGTHS = {'inputs': 0, 'targets': 16}"],
     "TASK_FEATURE_LENGTHS is {'inputs': 0, 'targets': 16}; it must be a dict "
     "of each feature's length, each a positive integer"),
    ('random seed a string', ['check', TINY, '--workdir={w}',
                              "--gin=RANDOM_SEED = 'x'"],
     "RANDOM_SEED is 'x'; it must be an integer, or None"),
    ('high-resource rate of 1',
     ['check', RO_FR, '--workdir={w}', '--gin=HIGH_RESOURCE_RATE = 1.0'],
     "error: --gin='HIGH_RESOURCE_RATE = 1.0': HIGH_RESOURCE_RATE is 1.0; it "
     'must be a number strictly between 0 and 1'),
    ('microbatches that do not divide the batch',
     ['check', TINY, '--workdir={w}', '--gin=trainer.Trainer.num_microbatches = 3'],
     "error: --gin='trainer.Trainer.num_microbatches = 3': num_microbatches is "
     '3, which does not divide BATCH_SIZE 16; it must divide it, e.g. 2'),
    ('zero microbatches',
     ['check', TINY, '--workdir={w}', '--gin=trainer.Trainer.num_microbatches = 0'],
     'trainer.Trainer.num_microbatches is 0; it must be a positive integer '
     'that divides BATCH_SIZE, or None'),
    ('zero partitions',
     ['check', TINY, '--workdir={w}',
      '--gin=partitioning.PjitPartitioner.num_partitions = 0'],
     'partitioning.PjitPartitioner.num_partitions is 0; it must be a positive '
     'integer, or None'),
    ('submesh with a zero',
     ['check', 'static_mc4_xl', '--workdir={w}',
      '--gin=MODEL_PARALLEL_SUBMESH = (1, 1, 0, 1)'],
     "error: --gin='MODEL_PARALLEL_SUBMESH = (1, 1, 0, 1)': "
     'partitioning.PjitPartitioner.model_parallel_submesh is (1, 1, 0, 1); it '
     'must be a tuple of 4 positive integers'),
    ('dtype no float', ['check', TINY, '--workdir={w}',
                        "--gin=network.T5Config.dtype = 'float17'"],
     '''error: --gin="network.T5Config.dtype = 'float17'": network.T5Config.dtype '''
     "is 'float17'; it must be one of 'float32', 'bfloat16', 'float16'"),
    ('dtype an integer', ['check', TINY, '--workdir={w}',
                          "--gin.network.T5Config.dtype='int32'"],
     "network.T5Config.dtype is 'int32'; it must be one of"),
    ('no mixture', ['check', TINY, '--workdir={w}',
                    '--gin=MIXTURE_OR_TASK_NAME = None'],
     "error: --gin='MIXTURE_OR_TASK_NAME = None': MIXTURE_OR_TASK_NAME is None; "
     'it must be a non-empty string naming a registered seqio task or mixture'),
    ('feature lengths past dense attention',
     ['check', TINY, '--workdir={w}',
      "--gin=TASK_FEATURE_LENGTHS = {'inputs': 100000000, 'targets': 30000000}"],
     "TASK_FEATURE_LENGTHS is {'inputs': 100000000, 'targets': 30000000}; it "
     "must be a dict of each feature's length, each a positive integer at most "
     '32,768'),
    ('feature length missing', ['check', TINY, '--workdir={w}',
                                "--gin=TASK_FEATURE_LENGTHS = {'inputs': 128}"],
     '''error: --gin="TASK_FEATURE_LENGTHS = {'inputs': 128}": '''
     "TASK_FEATURE_LENGTHS {'inputs': 128} has no length for targets"),
    ('batch past int32 tokens', ['check', TINY, '--workdir={w}',
                                 '--gin=BATCH_SIZE = 2147483648'],
     "error: --gin='BATCH_SIZE = 2147483648': BATCH_SIZE 2147483648 x inputs "
     'length 128 is 274,877,906,944 tokens a batch, over the 2,147,483,647'),
    ('batch of a trillion', ['run', TINY, '--workdir={w}',
                             '--pretrain_gin=BATCH_SIZE = 1000000000000'],
     'BATCH_SIZE must be at most 16,777,215 with these lengths'),
    ('fine-tune of one step', ['check', TINY, '--workdir={w}',
                               '--finetune_gin=TRAIN_STEPS = 1'],
     "error: --finetune_gin='TRAIN_STEPS = 1': WARMUP_STEPS is 40, not below "
     'TRAIN_STEPS 1 (a fine-tune must reach its learning rate); TRAIN_STEPS '
     'must be above the warm-up, e.g. TRAIN_STEPS = 41.'),
    ('mC4 JSON directory a number', ['data', 'ptjf_mc4_xxl', '--gin=MC4_JSON_DIR = 5'],
     "error: --gin='MC4_JSON_DIR = 5': MC4_JSON_DIR is 5; it must be a string"),
    ('high-resource rate not a number',
     ['check', 'ptjf_synth_ro_fr_tiny', '--workdir={w}',
      "--gin=HIGH_RESOURCE_RATE = 'abc'"],
     '''error: --gin="HIGH_RESOURCE_RATE = 'abc'": HIGH_RESOURCE_RATE is 'abc'; '''
     'it must be a number strictly between 0 and 1'),
    ('empty recipe file', ['check', '{d}/empty.gin', '--workdir={w}'],
     "empty.gin' is empty: a recipe binds at least TRAIN_STEPS"),
    ('recipe path a directory', ['run', '{d}/dir.gin', '--workdir={w}'],
     "dir.gin' is a directory: give a .gin file"),
    ('workdir an existing file (check)', ['check', TINY, '--workdir={d}/afile'],
     'afile is a file, not a directory: give a --workdir that is a directory'),
    ('workdir an existing file (run)', ['run', TINY, '--workdir={d}/afile'],
     'afile is a file, not a directory'),
    ('workdir under a file', ['run', TINY, '--workdir={d}/afile/w'],
     "afile is a file; give a --workdir that is a directory"),
    ('workdir whose logs is a file', ['run', TINY, '--workdir={d}/logfile'],
     'logfile/logs is a file, not a directory'),
    ('workdir a checkpoint', ['run', TINY, '--workdir={d}/early/checkpoint_80'],
     "/early, a T5X run's directory (it holds checkpoint_80): give the "
     "experiment's directory, e.g. "),
    ('workdir a run directory', ['check', TINY, '--workdir={d}/finetuned'],
     "finetuned is a T5X run's directory (it holds config.gin)"),
    ('workdir in a run directory', ['check', TINY, '--workdir={d}/steps80/ptjf'],
     "steps80/ptjf lies in "),
    # procfs takes no new entries, from root either: read-only wherever Linux is
    ('workdir not writable (check)', ['check', TINY, '--workdir=/proc/1/ptjf'],
     'error: /proc/1/ptjf cannot be written: /proc/1 is on a read-only file '
     'system or not writable'),
    ('workdir not writable (run)', ['run', TINY, '--workdir=/proc/1/ptjf'],
     'error: /proc/1/ptjf cannot be written'),
    ('pretrain_dir a checkpoint', ['check', TINY, '--workdir={w}',
                                   '--pretrain_dir={d}/early/checkpoint_80'],
     'early/checkpoint_80 is a checkpoint, not a run directory: give its run '
     'directory (--pretrain_dir='),
    ('pretrain_dir a missing checkpoint', ['check', TINY, '--workdir={w}',
                                           '--pretrain_dir={d}/gone/checkpoint_160'],
     'gone/checkpoint_160 is a checkpoint, not a run directory'),
    ('pretrain_dir a whole checkpoint', ['run', TINY, '--workdir={w}',
                                         '--pretrain_dir={d}/wider/checkpoint_160/'],
     "/wider), whose final checkpoint the fine-tune restores."),
    ('pretrain_dir of fewer steps', ['check', TINY, '--workdir={w}',
                                     '--pretrain_dir={d}/steps80'],
     "steps80 finished at step 80, not at the first phase's TRAIN_STEPS = 160 "
     "(pretrain_synth_mc4_tiny.gin): add --pretrain_gin='TRAIN_STEPS = 80' to "
     'fine-tune from its checkpoint_80'),
    ('pretrain_dir of more steps', ['run', TINY, '--workdir={w}',
                                    '--pretrain_dir={d}/steps200'],
     "add --pretrain_gin='TRAIN_STEPS = 200' to fine-tune from its "
     'checkpoint_200'),
    ('pretrain_dir a fine-tune', ['check', TINY, '--workdir={w}',
                                  '--pretrain_dir={d}/finetuned'],
     'finetuned is a fine-tune, not a first phase: its config.gin restores '
     "/runs/tiny/pretrain/checkpoint_160; give the first phase's directory"),
    ('empty lock file', ['run', TINY, '--workdir={d}/locked'],
     'locked/ptjf_run.lock is not a lock ptjf run wrote (empty): check that no '
     'ptjf run or t5x.train uses'),
    ('lock file of another program', ['run', TINY, '--workdir={d}/foreign_lock'],
     'foreign_lock/ptjf_run.lock is not a lock ptjf run wrote (its JSON lacks '
     'identity, host, pid, seen): check that no ptjf run or t5x.train uses'),
    ('run workdir gs:// without bucket', ['run', TINY, '--workdir=gs://'],
     'error: --workdir=gs:// names no bucket'),
    ('UniMax run past every epoch cap',
     ['check', 'static_mc4_xxl', '--workdir={w}',
      "--gin=MIXTURE_OR_TASK_NAME = 'ptjf_mc4.unimax'",
      '--gin=TRAIN_STEPS = 3_000_000'],
     'error: recipes/static_mc4_xxl.gin: ptjf_mc4.unimax: this run reads '
     '3,492,864,000,000 tokens (TRAIN_STEPS 3,000,000 x BATCH_SIZE 1,024 x '
     '1,137 a chunk), more than 1 epoch(s) of its tasks hold'),
    ('mC4 version without the multilingual config',
     ['check', 'static_mc4_xxl', '--workdir={w}',
      "--gin=ptjf.mc4_tfds_version.version = '2.3.1'"],
     "error: recipes/static_mc4_xxl.gin: ptjf.mc4_tfds_version.version is "
     "'2.3.1': c4/multilingual exists in versions 3.1.0, 3.0.1, 3.0.0"),
    # --t5x_flag: a flag t5x.train defines, read from T5X's source
    ('t5x_flag misspelt', ['check', TINY, '--workdir={w}',
                          '--t5x_flag=--multiprocess_gpuu'],
     'error: --t5x_flag=--multiprocess_gpuu: t5x.train has no flag '
     '--multiprocess_gpuu; did you mean --multiprocess_gpu'),
    ('t5x_flag of ptjf', ['run', TINY, '--workdir={w}', '--t5x_flag=--workdir=/x'],
     'error: --t5x_flag=--workdir=/x: t5x.train has no flag --workdir'),
    ('t5x_flag unknown (launch)',
     ['launch', 'ptjf_synth_ro_fr_tiny', '--tpu=t', '--zone=us-central2-b', '--workdir=gs://b/w',
      '--t5x_flag=--frobnicate=1'],
     'error: --t5x_flag=--frobnicate=1: t5x.train has no flag --frobnicate; '
     'its own are --coordinator_address'),
    ('no processes', ['check', TINY, '--workdir={w}',
                      '--t5x_flag=--process_count=0'],
     "error: --t5x_flag=--process_count=0: the run's number of processes must "
     'be at least 1.'),
    ('negative processes', ['run', TINY, '--workdir={w}',
                            '--t5x_flag=--process_count=-2'],
     'error: --t5x_flag=--process_count=-2: the run'),
    ('process index past the count',
     ['check', TINY, '--workdir={w}', '--t5x_flag=--process_index=5',
      '--t5x_flag=--process_count=2'],
     "error: --t5x_flag=--process_index=5: this process's index must be from 0 "
     'to 1 (--process_count=2 less 1).'),
    ('t5x_flag not a number', ['check', TINY, '--workdir={w}',
                              '--t5x_flag=--process_count=two'],
     "error: --t5x_flag=--process_count=two: --process_count takes a whole "
     "number, not 'two'."),
    # text that is not gin, named by its flag or file and line
    ('binding with an open quote', ['check', TINY, '--workdir={w}',
                                   "--gin=LEARNING_RATE = 'x"],
     """error: --gin="LEARNING_RATE = 'x" is not a gin binding: Unable to parse """
     'value; write NAME = VALUE with a Python literal or %MACRO.'),
    ('binding an expression', ['run', TINY, '--workdir={w}',
                              '--pretrain_gin=BATCH_SIZE = 2 * 8'],
     "error: --pretrain_gin='BATCH_SIZE = 2 * 8' is not a gin binding: Expected "
     'newline'),
    ('binding a bare name', ['check', TINY, '--workdir={w}',
                            '--finetune_gin=LEARNING_RATE = fast'],
     "error: --finetune_gin='LEARNING_RATE = fast' is not a gin binding: Failed "
     "to parse token 'fast'"),
    ('empty binding', ['check', TINY, '--workdir={w}', '--gin='],
     "error: --gin='' is empty: write NAME = VALUE, e.g. --gin='LEARNING_RATE = "
     "5e-3'."),
    ('binding without a value', ['run', TINY, '--workdir={w}', '--gin=WARMUP_STEPS'],
     "error: --gin='WARMUP_STEPS' is not a gin binding: Couldn't parse "
     "statement, expected ':' or '='"),
    ('gin file with bad text', ['check', TINY, '--workdir={w}',
                               '--gin_file={d}/badtext.gin'],
     'badtext.gin line 2 is not gin: Expected newline; write NAME = VALUE'),
    ('gin file bad text included by the recipe',
     ['check', '{d}/pretrain_inc_tiny.gin', '--workdir={w}'],
     'badtext.gin line 2 is not gin: Expected newline; write NAME = VALUE'),
    ('gin file missing', ['run', TINY, '--workdir={w}', '--gin_file=gin/no_such.gin'],
     'error: --gin_file=gin/no_such.gin: '),
    ('gin file a device', ['check', TINY, '--workdir={w}', '--gin_file=/dev/null'],
     'error: --gin_file=/dev/null: /dev/null is not a regular file: give a gin '
     'file.'),
    ('gin file a recipe', ['check', TINY, '--workdir={w}',
                           '--gin_file=recipes/ptjf_synth_mc4_tiny.gin'],
     'ptjf_synth_mc4_tiny.gin is a recipe, not a gin file to add to one: give '
     'it as the EXPERIMENT'),
    ('gin file a user recipe', ['run', TINY, '--workdir={w}',
                                '--gin_file={d}/static_my_tiny.gin'],
     'static_my_tiny.gin is a recipe, not a gin file to add to one'),
    ('recipe name with .gin', ['check', 'ptjf_synth_mc4_tiny.gin', '--workdir={w}'],
     "error: recipe file 'ptjf_synth_mc4_tiny.gin' does not exist: give the "
     'recipe name ptjf_synth_mc4_tiny (or recipes/ptjf_synth_mc4_tiny.gin).'),
    ('gin file not UTF-8', ['check', TINY, '--workdir={w}',
                           '--gin_file={d}/latin1.gin'],
     'latin1.gin is not UTF-8 text (byte 0xe9 on line 1): save it as UTF-8.'),
    ('gin file binary', ['run', TINY, '--workdir={w}', '--gin_file={d}/binary.gin'],
     'binary.gin is a binary file, not gin text'),
    ('recipe not UTF-8', ['check', '{d}/pretrain_latin_tiny.gin', '--workdir={w}'],
     "pretrain_latin_tiny.gin' is not UTF-8 text (byte 0xff on line 1)"),
    ('recipe binary', ['run', '{d}/pretrain_bin_tiny.gin', '--workdir={w}'],
     "pretrain_bin_tiny.gin' is a binary file, not gin text"),
    # a sweep's mixtures are registered, as each point's ptjf run checks
    ('sweep of an unregistered temperature',
     ['sweep', 'static_synth_mc4_tiny', '--root={w}', '--taus=2,7'],
     "error: point tau7: recipes/static_synth_mc4_tiny.gin: 'ptjf_synth.tau7' is "
     'not a registered seqio task or mixture'),
    ('sweep of an unregistered fine-tune temperature',
     ['sweep', 'ptjf_synth_mc4_tiny', '--root={w}', '--taus=0.5'],
     "error: point tau0.5: recipes/ptjf_synth_mc4_tiny.gin: 'ptjf_synth.tau0.5' "
     'is not a registered'),
]


@pytest.fixture
def run_refused(disk, tmp_path, ptjf, python_m, snapshot):
  """Runs `ptjf ARGV` (or `python -m MODULE ...` for ['-m', MODULE, ...]);
  checks that it failed and left the disk as it was; returns its stderr."""
  def run(argv, subprocess=False):
    workdir = tmp_path / 'w'  # never created
    args = [a.replace('{w}', str(workdir)).replace('{d}', str(disk)) for a in argv]
    names = set(seqio.MixtureRegistry.names()), set(seqio.TaskRegistry.names())
    before = snapshot(disk, recipe.REPO)
    result = (python_m(*args[1:]) if args[0] == '-m' else
              ptjf(*args, subprocess=subprocess))
    assert result.returncode != 0, result.stdout
    assert snapshot(disk, recipe.REPO) == before
    assert not workdir.exists()
    assert (set(seqio.MixtureRegistry.names()),
            set(seqio.TaskRegistry.names())) == names
    return result.stderr
  return run


@pytest.mark.parametrize('argv, message', [c[1:] for c in COMMAND_LINE],
                         ids=[c[0] for c in COMMAND_LINE])
def test_command_line_refuses(argv, message, disk, run_refused):
  stderr = run_refused(argv)
  assert message.replace('{d}', str(disk)) in stderr
  assert 'Traceback' not in stderr


def test_sweep_flags_given_to_launch_are_unknown(run_refused):
  # in a process of its own: this one has imported ptjf.sweep, which defines them
  stderr = run_refused(['launch', 'ptjf_synth_ro_fr_tiny', '--tpu=t', '--zone=z',
                        '--workdir=gs://b/w', '--learning_rates=1e-3'],
                       subprocess=True)
  assert "Unknown command line flag 'learning_rates'" in stderr
  assert 'Traceback' not in stderr


@pytest.mark.needs_t5x
@pytest.mark.parametrize('argv, message', [c[1:] for c in COMMAND_LINE_T5X],
                         ids=[c[0] for c in COMMAND_LINE_T5X])
def test_command_line_refuses_a_recipe(argv, message, run_refused):
  stderr = run_refused(argv)
  last = stderr.strip().splitlines()[-1]  # one line, the last one
  assert message in last and last.startswith(('error:', 'FATAL Flags parsing'))
  assert 'Traceback' not in stderr


# (id, what a user's own task or mixture module might call, the message)
IN_PYTHON = [
    ('unknown language code', lambda: mc4.task_name('xx'), "unknown mC4 language 'xx'"),
    ('unknown WMT pair', lambda: wmt.task_name('en_de'), "unknown WMT pair 'en_de'"),
    ('unknown synthetic language', lambda: synthetic.task_name('de'),
     "unknown synthetic language or pair 'de'"),
    ('tau of zero', lambda: rates.temperature({'a': 10, 'b': 1}, 0), 'tau is 0'),
    ('negative tau', lambda: rates.temperature({'a': 10, 'b': 1}, -2), 'tau is -2'),
    ('tau so small the rates underflow',
     lambda: rates.temperature({'a': 10, 'b': 1}, 1e-300),
     'tau is 1e-300: so low that P^(1/tau) underflows to 0'),
    ('infinite tau', lambda: rates.temperature({'a': 10, 'b': 1}, float('inf')),
     'tau is inf: the temperature must be a finite number > 0'),
    ('infinite task size', lambda: rates.temperature({'a': float('inf'), 'b': 1}, 2),
     "size of task 'a' is inf: sizes must be finite numbers >= 0"),
    ('empty mixture', lambda: registry.register_mixture('my.empty', {}),
     "mixture 'my.empty': rates is empty: give at least one task with its rate"),
    ('all rates zero', lambda: registry.register_mixture(
        'my.zero', {'ptjf_synth.en': 0, 'ptjf_synth.gd': 0.0}),
     "mixture 'my.zero': all rates are zero"),
    ('negative rate', lambda: registry.register_mixture(
        'my.neg', {'ptjf_synth.en': 1, 'ptjf_synth.gd': -0.5}),
     "mixture 'my.neg': rate of task 'ptjf_synth.gd' is -0.5"),
    ('unregistered task in a mixture', lambda: registry.register_mixture(
        'my.mix', {'ptjf_synth.en': 1, 'my.task': 1}), "unknown task 'my.task'"),
    ('pair rate of 1', lambda: registry.pair_mixture(
        'ptjf_synth.en_fr', 'ptjf_synth.en_ro', 1.0),
     'high_rate (HIGH_RESOURCE_RATE) is 1.0: it must be a number strictly '
     'between 0 and 1'),
    ('missing vocabulary file', lambda: vocab.ConfiguredVocabulary(
        lambda: ('/nowhere/spm.model', 0)).check_file(),
     "SentencePiece model '/nowhere/spm.model' does not exist"),
]


@pytest.mark.parametrize('call, message', [c[1:] for c in IN_PYTHON],
                         ids=[c[0] for c in IN_PYTHON])
def test_python_refuses(call, message, disk, snapshot):
  names = set(seqio.MixtureRegistry.names()), set(seqio.TaskRegistry.names())
  before = snapshot(disk, recipe.REPO)
  with pytest.raises((ValueError, FileNotFoundError)) as error:
    call()
  # gin adds the configurable's name on a line of its own when it calls one
  assert message in str(error.value).splitlines()[0]
  assert (set(seqio.MixtureRegistry.names()),
          set(seqio.TaskRegistry.names())) == names
  assert snapshot(disk, recipe.REPO) == before

