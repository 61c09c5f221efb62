"""The pod path run for real: `ptjf run` on several hosts, each a process of
2 CPU devices, JAX's distributed runtime between them (ptjf/pod.py). On CPU,
T5X's mesh is data = processes x model = devices per process: 2 hosts of 2
devices train on data 2 x model 2, one process of 4 devices on data 1 x
model 4. Needs T5X; about 8 minutes.

Two tiny chains of 20 + 20 steps (4 heads, so that a model axis of 4 splits
them) with gin/data/host_invariant.gin, which gives every step the same
examples on any number of hosts, are trained once and shared: `single`, one
process of 4 devices, and `pod`, 2 hosts of 2 devices.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from ptjf import chain
from ptjf import checkpoint
from ptjf import pod
from ptjf import summaries

pytestmark = pytest.mark.needs_t5x

CHAIN = 'ptjf_synth_mc4_tiny'
PRETRAIN = 'pretrain_synth_mc4_tiny'
SHORT = ['--gin_file=gin/data/host_invariant.gin',  # the same batches on any hosts
         '--gin=TRAIN_STEPS = 20',
         '--gin=utils.SaveCheckpointConfig.period = 10',
         '--gin=train.stats_period = 1',  # the train loss of every step
         '--gin=network.T5Config.num_heads = 4',
         '--gin=network.T5Config.head_dim = 16']
# The chain's fine-tune warms up within its 20 steps.
FINETUNE = ['--finetune_gin=WARMUP_STEPS = 15']
# A host lost: the survivor's ptjf run ends within this many seconds (it
# stops its trainer when the collective or JAX's service reports the loss).
LOST_WITHIN_S = 30
RTOL = 1e-3  # measured here: at most 3.1e-4, in the fine-tune's last steps


def settings(name):
  return [*SHORT, *(FINETUNE if name == CHAIN else [])]


def on_hosts(name, workdir, count, *args, log_dir=None):
  """`ptjf run NAME` on `count` local hosts of 2 devices to its end; the
  hosts."""
  # gin/meshes/gpu_host.gin's 8 partitions would not pass ptjf's check of
  # the mesh against 2 devices; on CPU T5X's model axis is the devices anyway.
  with pod.start(name, [f'--workdir={workdir}', *settings(name),
                        '--gin=NUM_PARTITIONS = 2', *args], count,
                 log_dir=log_dir or f'{workdir}_hosts') as hosts:
    pass
  return hosts


def in_one_process(ptjf, name, workdir, *args):
  """`ptjf run NAME` in one process of 4 devices, data 1 x model 4."""
  result = ptjf('run', name, f'--workdir={workdir}', *settings(name), *args,
                env={'XLA_FLAGS': pod.host_env(4)['XLA_FLAGS']},
                subprocess=True)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  return result


def succeeded(hosts):
  for host in hosts:
    assert host.process.returncode == 0, (host.index, host.output[-3000:])
  return hosts


def params(run_dir, step):
  return checkpoint.read(checkpoint.path(run_dir, step))['target']


def leaves(tree, prefix=''):
  if isinstance(tree, dict):
    return {k: v for name, sub in tree.items()
            for k, v in leaves(sub, f'{prefix}/{name}').items()}
  return {prefix: np.asarray(tree)}


def assert_equal_params(a, b):
  a, b = leaves(a), leaves(b)
  assert a.keys() == b.keys()
  for name in a:
    assert np.array_equal(a[name], b[name]), name


@pytest.fixture(scope='module')
def single(tmp_path_factory, ptjf):
  workdir = tmp_path_factory.mktemp('single') / 'w'
  in_one_process(ptjf, CHAIN, workdir)
  return str(workdir)


@pytest.fixture(name='pod', scope='module')
def pod_fixture(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('pod') / 'w'
  hosts = succeeded(on_hosts(CHAIN, workdir, 2))
  return str(workdir), hosts


def test_two_hosts_train_the_single_processs_chain_step_by_step(single, pod):
  for phase in ('pretrain', 'ptjf'):
    one = summaries.scalars(os.path.join(single, phase))['loss']
    two = summaries.scalars(os.path.join(pod[0], phase))['loss']
    assert sorted(one) == sorted(two) == list(range(1, 21))
    # Only the order of the sums differs: over 2 x 2 devices or over 1 x 4.
    np.testing.assert_allclose([two[s] for s in sorted(two)],
                               [one[s] for s in sorted(one)], rtol=RTOL)


def test_each_host_restored_and_checked_its_share_bit_for_bit(pod):
  workdir, hosts = pod
  assert_equal_params(params(os.path.join(workdir, 'ptjf'), 0),
                      params(os.path.join(workdir, 'pretrain'), 20))
  for host in hosts:
    assert (f'restored parameters are finite (checkpoint_0, share '
            f'{host.index + 1} of 2)') in host.output


def test_a_pretraining_on_2_hosts_finetunes_on_1_host_of_4_devices(
    tmp_path, pod, ptjf):
  in_one_process(ptjf, CHAIN, tmp_path, f'--pretrain_dir={pod[0]}/pretrain')
  assert_equal_params(params(os.path.join(tmp_path, 'ptjf'), 0),
                      params(os.path.join(pod[0], 'pretrain'), 20))


def test_a_pretraining_on_1_host_of_4_devices_finetunes_on_2_hosts(
    tmp_path, single):
  succeeded(on_hosts(CHAIN, tmp_path, 2, f'--pretrain_dir={single}/pretrain'))
  assert_equal_params(params(os.path.join(tmp_path, 'ptjf'), 0),
                      params(os.path.join(single, 'pretrain'), 20))


def wait_for(ready, what, hosts, timeout=300):
  deadline = time.time() + timeout
  while not ready():
    ended = [h for h in hosts if not h.process.running]
    assert time.time() < deadline and not ended, (
        f'no {what} within {timeout} s', [h.output[-2000:] for h in hosts])
    time.sleep(0.01)


def trainers(model_dir, index):
  """The pids of host `index`'s t5x.train of `model_dir`."""
  return [int(pid) for pid in subprocess.run(
      ['pgrep', '-f', f'MODEL_DIR = "{model_dir}".*--process_index={index}'],
      capture_output=True, text=True, check=False).stdout.split()]


def kill(pid):
  """SIGKILLs `pid`; when it was killed."""
  os.kill(pid, signal.SIGKILL)
  return time.time()


def last_line(host):
  return host.output.strip().splitlines()[-1]


def assert_lost(hosts, killed, at, resume):
  """The killed host names its trainer's death, the other one the lost host,
  soon after."""
  for host in hosts:
    assert host.process.returncode == 1, host.output[-3000:]
    if host.index == killed:
      assert last_line(host).startswith(
          't5x.train failed in pretrain (exit -9, killed by SIGKILL)'
          .join(['error: ', '']))
      continue
    assert host.ended_at - at < LOST_WITHIN_S, host.ended_at - at
    assert re.fullmatch(
        r"error: pretrain lost a host: another of the run's 2 hosts is gone "
        r'\(t5x.train: .+\), so host \d stopped its t5x.train too. Run the '
        r'same command again on every host; they resume from '
        f'{resume}, the last complete checkpoint, with its optimizer state. '
        r'Full log: \S+', last_line(host)), last_line(host)


def test_a_lost_host_stops_the_run_at_once_and_every_rerun_resumes(tmp_path):
  """Host 1 killed mid-phase, then host 0 (JAX's coordinator) in the middle
  of saving a checkpoint; the same command resumes each time, never from
  the half-written checkpoint. Meanwhile another run on the workdir is
  refused on both its hosts."""
  model_dir = tmp_path / 'pretrain'
  run = [f'--workdir={tmp_path}', *SHORT, '--gin=TRAIN_STEPS = 60',
         '--gin=NUM_PARTITIONS = 2']
  with pod.start(PRETRAIN, run, 2, log_dir=f'{tmp_path}_1') as hosts:
    wait_for(lambda: 'step 1/60' in hosts[0].output, 'first step', hosts)
    other = on_hosts(PRETRAIN, tmp_path, 2, log_dir=f'{tmp_path}_other')
    wait_for(lambda: checkpoint.steps(model_dir)[-1] >= 10, 'checkpoint_10',
             hosts)
    (trainer,) = trainers(model_dir, 1)
    killed_at = kill(trainer)
  for host in other:  # another coordinator: another run, which must wait
    assert host.process.returncode == 1
    assert last_line(host).startswith(f'error: {tmp_path} is in use by ptjf '
                                      'run on ')
    assert 't5x.train' not in host.output
  last = checkpoint.steps(model_dir)[-1]
  assert 10 <= last <= 40
  assert_lost(hosts, 1, killed_at, f'checkpoint_{last}')

  saving = f'checkpoint_{last + 10}.'
  with pod.start(PRETRAIN, run, 2, log_dir=f'{tmp_path}_2') as hosts:
    wait_for(lambda: trainers(model_dir, 0), "host 0's trainer", hosts)
    (trainer,) = trainers(model_dir, 0)  # looked up before: killed at once
    wait_for(lambda: any(n.startswith(saving) for n in os.listdir(model_dir)),
             f'{saving} being saved', hosts)
    killed_at = kill(trainer)
  assert f'resuming from checkpoint_{last}' in hosts[1].output
  assert_lost(hosts, 0, killed_at, f'checkpoint_{last}')
  assert checkpoint.steps(model_dir)[-1] == last  # the next is half-written

  hosts = succeeded(on_hosts(PRETRAIN, tmp_path, 2, '--gin=TRAIN_STEPS = 60',
                             log_dir=f'{tmp_path}_3'))
  for host in hosts:
    assert f'60 steps, resuming from checkpoint_{last}' in host.output
  assert checkpoint.steps(model_dir)[-1] == 60
  assert checkpoint.read(checkpoint.path(model_dir, 60))['state']['step'] == 60


@pytest.mark.parametrize('share', [0, 1])
def test_nonfinite_parameters_in_either_hosts_share_stop_every_host(
    share, pod, tmp_path, poison):
  pretrained = checkpoint.path(tmp_path / 'pretrain', 20)
  shutil.copytree(checkpoint.path(os.path.join(pod[0], 'pretrain'), 20),
                  pretrained)
  names = [a.name for a in checkpoint._arrays(pretrained)  # pylint: disable=protected-access
           if a.name.startswith('target.')]
  poisoned = poison(pretrained, names[share])  # checkpoint.finite's split
  hosts = on_hosts(CHAIN, tmp_path, 2)
  for host in hosts:
    assert host.process.returncode == 1, host.output[-3000:]
    assert last_line(host).startswith(
        f'error: ptjf restored non-finite parameters from {pretrained} '
        f'({poisoned} has '), (host.index, last_line(host))
    assert '    step ' not in host.output
  assert checkpoint.steps(tmp_path / 'ptjf') == [0]


def test_each_host_reads_a_disjoint_share_of_every_task():
  """T5X gives host I of N seqio's ShardInfo(I, N) of every task of the
  mixture, with the run's seed; read here from each task's own source, as
  seqio's Task reads it: a whole shuffled epoch of the small tasks, and the
  first examples of the large ones unshuffled (a prefix of a shuffled
  stream is no union of the shares' prefixes)."""
  import seqio  # pylint: disable=g-import-not-at-top
  import mixtures  # pylint: disable=g-import-not-at-top,unused-import
  mixture = seqio.get_mixture_or_task('ptjf_synth.tau3.33')

  def texts(task, shard, limit, shuffle):
    documents = seqio.Task(f'{task.name}_documents', source=task.source,
                           output_features={})
    dataset = documents.get_dataset(
        None, split='train', shuffle=shuffle, seed=0, num_epochs=1,
        shard_info=seqio.ShardInfo(*shard)).take(limit)
    return [bytes(e['text']) for e in dataset.as_numpy_iterator()]

  counts = {}
  for task in mixture.tasks:
    size = task.source.num_input_examples('train')
    limit, shuffle = (size, True) if size <= 2100 else (1000, False)
    whole = texts(task, (0, 1), limit, shuffle)
    shares = [texts(task, (i, 2), (limit + 1 - i) // 2, shuffle)
              for i in (0, 1)]
    assert not set(shares[0]) & set(shares[1]), task.name
    assert sorted(shares[0] + shares[1]) == sorted(whole), task.name
    counts[task.name] = [len(s) for s in shares]
  assert counts['ptjf_synth.gd'] == [200, 200]  # 400 documents
  assert counts['ptjf_synth.sw'] == [1025, 1025]
  assert counts['ptjf_synth.en'] == [500, 500]  # of the first 1,000
