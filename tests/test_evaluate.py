"""`ptjf eval`: the model it builds from a run's config.gin, for both model
families, and a tiny NMT run's checkpoints scored twice through the command
line (the second time skips them all).

One t5x.train of 12 steps and two t5x.eval runs, about two minutes on two CPU
cores; the config tests parse recipes in this process.
"""

import json
import os
import re
import subprocess

import gin
import pytest
import sacrebleu

from ptjf import checkpoint
from ptjf import evaluate
from ptjf import recipe

pytestmark = pytest.mark.needs_t5x

NMT = 'pretrain_synth_ro_fr_tiny'
TASK = 'ptjf_synth.en_fr'  # what the NMT pre-training evaluates
# How T5X's config.gin names the sections left to t5x.train.
TRAINING_SECTION = re.compile(r'train_script|trainer|DatasetConfig|'
                              r'CheckpointConfig|optax|optimizers|adafactor|'
                              r'learning_rate')


def operative_config(name, *bindings):
  """The config.gin t5x.train writes for recipe `name`, left parsed."""
  recipe.parse(os.path.join(recipe.RECIPES_DIR, name + '.gin'),
               ['MODEL_DIR = "/unused"', *bindings])
  return gin.config_str()  # what T5X's summarize_gin_config writes


def read(path, mode='r'):
  with open(path, mode) as f:
    return f.read()


@pytest.fixture(scope='module')
def nmt(tmp_path_factory, ptjf, snapshot):
  """A 12-step NMT pre-training (checkpoint_0 and _12), then `ptjf eval
  --checkpoints=all` twice: (run dir, both results, what the run held)."""
  run_dir = str(tmp_path_factory.mktemp('eval') / 'pretrain')
  result = subprocess.run(recipe.t5x_command(
      'train', [os.path.join(recipe.RECIPES_DIR, NMT + '.gin')],
      [recipe.string_binding('MODEL_DIR', run_dir), 'TRAIN_STEPS = 12',
       'WARMUP_STEPS = 4', 'train.eval_steps = 1']),
                          cwd=recipe.REPO, env=recipe.cpu_env(),
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert checkpoint.steps(run_dir) == [0, 12]
  before = {f: read(os.path.join(run_dir, f), 'rb')
            for f in ('config.gin', 'model-info.txt')}
  first = ptjf('eval', run_dir, '--checkpoints=all')
  assert first.returncode == 0, first.stderr[-3000:]
  written = snapshot(run_dir)
  second = ptjf('eval', run_dir, '--checkpoints=all')
  assert second.returncode == 0, second.stderr[-3000:]
  assert snapshot(run_dir) == written  # the second wrote nothing
  return run_dir, first.stdout.splitlines(), second.stdout.splitlines(), before


@pytest.mark.parametrize('name, bindings, mixture', [
    (NMT, [], TASK),
    # Its training-time evaluation reads a scoped mixture of both tasks.
    ('transfer_synth_ro_fr_tiny',
     ['INITIAL_CHECKPOINT_PATH = "/unused/checkpoint_1"'],
     'ptjf_synth.ro_fr.high0.5'),
    ('pretrain_synth_mc4_tiny', [], 'ptjf_synth.en_only'),  # scalable mT5
])
def test_eval_config_builds_the_runs_model(tmp_path, name, bindings, mixture):
  config = operative_config(
      name, *bindings, 'partitioning.PjitPartitioner.num_partitions = 2')
  network = recipe.value('MODEL').module.config
  shapes = recipe.parameter_shapes()
  lengths = recipe.value('TASK_FEATURE_LENGTHS')
  assert recipe.value(
      'train_eval/utils.DatasetConfig.mixture_or_task_name') == mixture
  kept = evaluate.model_config(config)
  sections = re.findall(r'^# Parameters for (\S+):', kept, re.MULTILINE)
  assert 'network.T5Config' in sections
  assert not [s for s in sections if TRAINING_SECTION.search(s)]
  assert 'optimizer_def' not in kept and 'import __main__' not in kept
  path = tmp_path / 'eval.gin'
  path.write_text(evaluate.eval_config('config.gin', config))
  evaluate.parse_eval(str(path), evaluate.eval_bindings(
      'validation', '/unused/checkpoint_1', '/unused'))
  assert recipe.value('MODEL').module.config == network
  assert recipe.parameter_shapes() == shapes
  assert recipe.value('models.EncoderDecoderModel.optimizer_def') is None
  assert recipe.value('partitioning.PjitPartitioner.num_partitions') == 2
  assert recipe.value('utils.DatasetConfig.mixture_or_task_name') == mixture
  assert recipe.value('utils.DatasetConfig.task_feature_lengths') == lengths
  assert recipe.value('utils.DatasetConfig.pack') is False


def test_scores_every_checkpoint_with_bleu(nmt):
  run_dir, lines, _, _ = nmt
  assert lines[0] == (f'{run_dir}: {TASK}, validation split, 1 task(s) -> '
                      f'{run_dir}/inference_eval')
  assert len(lines) == 3
  records = evaluate.recorded(run_dir, TASK)
  for step, line in zip((0, 12), lines[1:]):
    record = records[step]
    m = re.fullmatch(
        rf'  checkpoint_{step}: {TASK} bleu (\S+) \((\S+)\)  '
        r'\[0:\d\d:\d\d; log: (\S+)\]', line)
    assert m, line
    assert m.groups()[:2] == (f'{record["bleu"]:.4g}', record['bleu_signature'])
    assert os.path.dirname(m.group(3)) == f'{run_dir}/inference_eval/logs'
    assert read(m.group(3)).startswith('ptjf: launched at ')


def test_bleu_is_sacrebleu_of_the_written_inferences(nmt):
  run_dir = nmt[0]
  records = evaluate.recorded(run_dir, TASK)
  for step in (0, 12):
    with open(os.path.join(run_dir, 'inference_eval',
                           f'{TASK}-{step:06d}.jsonl')) as f:
      decoded = [json.loads(line) for line in f]
    assert len(decoded) == 200  # the whole validation split
    metric = sacrebleu.BLEU(tokenize='13a')
    expected = metric.corpus_score([d['prediction'] for d in decoded],
                                   [[d['target'] for d in decoded]])
    assert records[step]['bleu'] == pytest.approx(expected.score)
    assert records[step]['bleu_signature'] == str(metric.get_signature())


def test_second_invocation_skips_every_checkpoint(nmt):
  _, first, second, _ = nmt
  assert second[0] == first[0]
  for done, skipped in zip(first[1:], second[1:]):
    assert skipped == done.split('  [')[0] + '  [evaluated before; skipped]'


def test_leaves_the_runs_own_files_and_decodes_with_its_model(nmt):
  run_dir, _, _, before = nmt
  for name, content in before.items():
    assert read(os.path.join(run_dir, name), 'rb') == content, name
  used = read(os.path.join(run_dir, 'inference_eval', 'config.gin'))
  network = [line for line in before['config.gin'].decode().splitlines()
             if line.startswith('network.T5Config.')]
  assert network and all(line in used.splitlines() for line in network)
  assert ('models.EncoderDecoderModel.predict_batch_with_aux.num_decodes = 4'
          in used)
  assert 'models.EncoderDecoderModel.optimizer_def = None' in used
  assert 'utils.DatasetConfig.pack = False' in used


def test_refusals_are_one_line(nmt, tmp_path, monkeypatch):
  run_dir = nmt[0]
  (tmp_path / 'bare').mkdir()
  (tmp_path / 'unstarted').mkdir()
  (tmp_path / 'unstarted' / 'config.gin').write_bytes(nmt[3]['config.gin'])
  broken = tmp_path / 'broken'
  (broken / 'checkpoint_99').mkdir(parents=True)  # killed before any file
  (broken / 'config.gin').write_bytes(nmt[3]['config.gin'])
  other = tmp_path / 'other'  # an mT5's config.gin beside the NMT checkpoint
  other.mkdir()
  (other / 'config.gin').write_text(operative_config('pretrain_synth_mc4_tiny'))
  os.symlink(checkpoint.path(run_dir, 12), other / 'checkpoint_12')

  def refusal(run, checkpoints='last', split='validation'):
    with pytest.raises(ValueError) as e:
      evaluate.plan([str(run)], checkpoints, split, str(tmp_path))
    assert '\n' not in str(e.value)
    return str(e.value)

  assert refusal(tmp_path / 'none') == (
      f'{tmp_path}/none does not exist: give a directory written by t5x.train '
      '(config.gin and checkpoint_N), e.g. DIR/pretrain.')
  (tmp_path / 'afile').write_text('')
  assert refusal(tmp_path / 'afile') == (
      f'{tmp_path}/afile is a file: give a directory written by t5x.train '
      '(config.gin and checkpoint_N), e.g. DIR/pretrain.')
  assert refusal(broken / 'checkpoint_99') == (
      f'{broken}/checkpoint_99 is a checkpoint, not a run directory: give its '
      f'run directory, {broken} (--checkpoints chooses its steps).')
  assert refusal(tmp_path / 'bare') == (
      f'{tmp_path}/bare is not a t5x.train run directory: it has no '
      'config.gin.')
  assert refusal(tmp_path / 'unstarted') == (
      f'{tmp_path}/unstarted has no checkpoints (checkpoint_N directories): '
      'nothing to evaluate.')
  assert refusal(run_dir, '5,12') == (
      f'{run_dir} has no checkpoint_5: its checkpoints are at steps 0, 12.')
  for bad in ('latest', '12,x', '', '-5', '1e3'):
    assert refusal(run_dir, bad) == (
        f'--checkpoints={bad!r} is not last, all, or steps such as 1000,2000.')
  assert refusal(run_dir, split='test') == (
      f'{run_dir}: no task of {TASK} has metrics and a test split ({TASK}): '
      't5x.eval would score nothing.')
  assert refusal(broken) == (
      f'{broken}/checkpoint_99 is not whole (state/_METADATA is missing): '
      'leave it out with --checkpoints.')
  assert refusal(other) == (
      f'the model built from {other}/config.gin does not have the parameters '
      f'of {other}/checkpoint_12: is it another run\'s config?')
  monkeypatch.setattr(recipe, 't5x_missing', lambda: 'T5X is not installed')
  assert refusal(run_dir) == 'T5X is not installed'


def test_command_line(nmt, ptjf):
  result = ptjf('eval', nmt[0], '--checkpoints=5')
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: {nmt[0]} has no checkpoint_5: its checkpoints are at steps '
      '0, 12.')
  result = ptjf('eval', '--help')
  assert 'Usage: ptjf eval RUN_DIR...' in result.stdout
  assert '--checkpoints:' in result.stdout and '--split:' in result.stdout


def test_a_failed_t5x_eval_is_one_line(nmt, tmp_path, monkeypatch):
  run_dir = tmp_path / 'pretrain'
  run_dir.mkdir()
  (run_dir / 'config.gin').write_bytes(nmt[3]['config.gin'])
  os.symlink(checkpoint.path(nmt[0], 12), run_dir / 'checkpoint_12')
  [run] = evaluate.plan([str(run_dir)], 'last', 'validation', str(tmp_path))
  monkeypatch.setenv('JAX_PLATFORMS', 'bogus')  # t5x.eval's JAX fails to start
  with pytest.raises(evaluate.EvalFailed) as e:
    evaluate.evaluate(run, 12)
  assert re.fullmatch(
      rf't5x.eval failed on checkpoint_12 of {run_dir} \(exit 1\) with '
      r"RuntimeError: Unable to initialize backend 'bogus'[^\n]*; full log: "
      rf'{run_dir}/inference_eval/logs/checkpoint_12\.[\d-]+\.log',
      str(e.value)), str(e.value)


def test_a_cut_record_counts_its_checkpoint_as_not_evaluated(nmt, tmp_path,
                                                             capsys):
  # t5x.eval stopped while writing checkpoint_12's record, after a stray line
  lines = read(os.path.join(nmt[0], 'inference_eval',
                            f'{TASK}-metrics.jsonl'), 'rb').splitlines(True)
  assert len(lines) == 2
  path = tmp_path / 'inference_eval' / f'{TASK}-metrics.jsonl'
  path.parent.mkdir()
  path.write_bytes(lines[0] + b'\xff\xfe\n' + lines[1][:20])
  assert list(evaluate.recorded(str(tmp_path), TASK)) == [0]
  assert capsys.readouterr().err == (
      f'warning: {path}: 2 line(s) are not JSON records (line 2 first); '
      'skipped them.\n')
