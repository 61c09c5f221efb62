"""Rate functions against hand-computed values, and their bad-input errors."""

import math

import pytest
import seqio

from mixtures import rates
from mixtures import registry
from mixtures import sizes

TABLE2 = {'en': 13396.0, 'hi': 75.0, 'gu': 3.6, 'gd': 0.8, 'sw': 4.1}


def test_temperature_literal():
  # P = (0.25, 0.75); tau = 2 -> sqrt: (0.5, 0.8660254); normalised:
  got = rates.temperature({'a': 1, 'b': 3}, tau=2)
  assert got['a'] == pytest.approx(0.5 / (0.5 + math.sqrt(0.75)), abs=1e-12)
  assert got['a'] == pytest.approx(0.3660254, abs=1e-7)
  assert got['b'] == pytest.approx(0.6339746, abs=1e-7)


def test_paper_mixture_tau_3_33_matches_equation_4():
  total = sum(TABLE2.values())
  powered = {l: (d / total) ** (1 / 3.33) for l, d in TABLE2.items()}
  expected = {l: p / sum(powered.values()) for l, p in powered.items()}
  mixture = seqio.get_mixture_or_task('ptjf_mc4.tau3.33')
  got = {t.name.split('.')[-1]: mixture.get_rate(t) / mixture.total_rate
         for t in mixture.tasks}
  assert got.keys() == expected.keys()
  for lang in expected:
    assert got[lang] == pytest.approx(expected[lang], abs=1e-6)
  # Hand-checked anchors: Gaelic is up-sampled ~630x, English down to ~70%.
  assert got['en'] == pytest.approx(0.695725, abs=1e-6)
  assert got['gd'] == pytest.approx(0.037498, abs=1e-6)


@pytest.mark.parametrize('tau', registry.TAUS)
def test_every_paper_tau_is_registered_with_table2_sizes(tau):
  name = registry.mixture_name('ptjf_mc4', 'tau', tau)
  mixture = seqio.get_mixture_or_task(name)
  expected = rates.temperature(
      {f'ptjf_mc4.{l}': d for l, d in TABLE2.items()}, tau)
  for task in mixture.tasks:
    assert mixture.get_rate(task) == pytest.approx(expected[task.name])


def test_tau_one_is_proportional_and_large_tau_tends_to_uniform():
  assert rates.temperature(TABLE2, 1.0) == pytest.approx(
      rates.proportional(TABLE2))
  flat = rates.temperature(TABLE2, 1e6)
  assert all(abs(r - 0.2) < 1e-4 for r in flat.values())


def test_uniform_ignores_empty_tasks():
  assert rates.uniform({'a': 5, 'b': 0, 'c': 1}) == {'a': 0.5, 'b': 0.0,
                                                      'c': 0.5}


def test_unimax_literal():
  # Ascending: a gets min(30/3, 2*1)=2, b min(28/2, 2*2)=4, c the rest, 24.
  got = rates.unimax({'c': 100, 'a': 1, 'b': 2}, budget=30, max_epochs=2)
  assert got == pytest.approx({'a': 2 / 30, 'b': 4 / 30, 'c': 24 / 30})
  assert list(got) == ['c', 'a', 'b']  # keeps the caller's order


@pytest.mark.parametrize('budget,cap', [(1000.0, 1.0), (50.0, 1.0),
                                        (200.0, 4.0), (13479.5, 1.0)])
def test_unimax_never_exceeds_the_epoch_cap(budget, cap):
  got = rates.unimax(TABLE2, budget=budget, max_epochs=cap)
  for lang, rate in got.items():
    assert rate * budget / TABLE2[lang] <= cap * (1 + 1e-12), lang
  assert sum(got.values()) == pytest.approx(1.0)


def test_unimax_budget_is_what_the_run_reads():
  # mT5-XXL's static run: 1M steps of 1024 rows, each one 1137-token chunk.
  name = registry.run_mixture('ptjf_mc4.unimax', 1_000_000, 1024,
                              {'inputs': 1024, 'targets': 229})
  assert name == 'ptjf_mc4.unimax'
  mixture = seqio.get_mixture_or_task(name)
  got = {t.name.split('.')[1]: mixture.get_rate(t) / mixture.total_rate
         for t in mixture.tasks}
  budget = 1_000_000 * 1024 * 1137
  # Smallest first, each capped at one epoch of its mT5 tokens: gd 0.4B,
  # gu 0.8B, sw 1B, hi 24B; English (2,733B) takes the remaining 1,138.1B.
  assert got == pytest.approx({'gd': 0.4e9 / budget, 'gu': 0.8e9 / budget,
                               'sw': 1e9 / budget, 'hi': 24e9 / budget,
                               'en': (budget - 26.2e9) / budget}, rel=1e-9)


def test_unimax_budget_no_cap_can_hold_is_refused():
  with pytest.raises(ValueError, match=(
      r'^ptjf_mc4.unimax: this run reads 3,492,864,000,000 tokens \(TRAIN_STEPS '
      r'3,000,000 x BATCH_SIZE 1,024 x 1,137 a chunk\), more than 1 epoch\(s\) '
      r'of its tasks hold \(2,759,200,000,000\): lower TRAIN_STEPS or '
      r'BATCH_SIZE.')):
    registry.run_mixture('ptjf_mc4.unimax', 3_000_000, 1024,
                         {'inputs': 1024, 'targets': 229})


def test_other_names_pass_through_run_mixture_unchanged():
  assert registry.run_mixture('ptjf_mc4.tau3.33', 1, 1, {'inputs': 8}) == (
      'ptjf_mc4.tau3.33')


def test_unimax_needs_span_corruption_tasks():
  family = registry.Family(prefix='ptjf_test_unimax', unit='pairs',
                           sizes={'ptjf_wmt.en_ro': 1.0, 'ptjf_wmt.en_fr': 2.0},
                           unimax_max_epochs=1.0)
  with pytest.raises(ValueError, match="task 'ptjf_wmt.en_ro' is not span "
                     'corruption'):
    family.register()


@pytest.mark.parametrize('prefix', ['ptjf_wmt.ro_fr', 'ptjf_wmt.hi_fr',
                                    'ptjf_wmt.zh_fr', 'ptjf_synth.ro_fr'])
def test_pair_grid_rates_are_exactly_the_grid(prefix):
  high = 'ptjf_synth.en_fr' if prefix.startswith('ptjf_synth') else (
      'ptjf_wmt.en_fr')
  for i in range(1, 10):
    mixture = seqio.get_mixture_or_task(f'{prefix}.high0.{i}')
    got = {t.name: mixture.get_rate(t) for t in mixture.tasks}
    low = (got.keys() - {high}).pop()
    assert got[high] == i / 10
    assert got[low] == 1 - i / 10


def test_wmt_sizes_are_table1():
  assert sizes.WMT_EXAMPLES == {'en_fr': 40_900_000, 'en_zh': 26_000_000,
                                'en_ro': 610_000, 'en_hi': 314_000}


def test_mc4_document_table_covers_every_language():
  from tasks import mc4  # pylint: disable=g-import-not-at-top
  assert set(sizes.MC4_DOCUMENTS) == set(mc4.LANGUAGES) | {mc4.UNDETERMINED}
  assert sizes.MC4_DOCUMENTS['en'] == 3_928_733_379
  assert sizes.MC4_DOCUMENTS['gd'] == 201_237
  assert set(sizes.MC4_MT5_TOKENS_BILLIONS) == set(mc4.LANGUAGES)


@pytest.mark.parametrize('tau', [1.0, 1.43, 2.0, 3.33, 5.0])
def test_all_language_mixtures_leave_out_undetermined(tau):
  from tasks import mc4  # pylint: disable=g-import-not-at-top
  mixture = seqio.get_mixture_or_task(f'ptjf_mc4_all.tau{tau:g}')
  got = {t.name: mixture.get_rate(t) / mixture.total_rate for t in mixture.tasks}
  assert 'ptjf_mc4.und' not in got and len(got) == len(mc4.LANGUAGES) == 107
  assert 'ptjf_mc4.und' in seqio.TaskRegistry.names()  # still its own task
  documents = {l: n for l, n in sizes.MC4_DOCUMENTS.items() if l != 'und'}
  weights = {l: (n / sum(documents.values())) ** (1 / tau)
             for l, n in documents.items()}
  assert got == pytest.approx(
      {f"ptjf_mc4.{l.replace('-', '_')}": w / sum(weights.values())
       for l, w in weights.items()}, rel=1e-9)
  assert max(got, key=got.get) == 'ptjf_mc4.en'


@pytest.mark.parametrize('call,message', [
    (lambda: rates.temperature(TABLE2, 0), "tau is 0"),
    (lambda: rates.temperature(TABLE2, -1.5), "tau is -1.5"),
    (lambda: rates.temperature({'a': -1, 'b': 2}, 2), "size of task 'a' is -1"),
    (lambda: rates.temperature({'a': 0, 'b': 0}, 2), 'all sizes are zero'),
    (lambda: rates.proportional({}), 'sizes is empty'),
    (lambda: rates.unimax(TABLE2, 100, max_epochs=0.5), 'max_epochs is 0.5'),
    (lambda: rates.unimax(TABLE2, 0), 'budget is 0'),
    (lambda: rates.unimax(TABLE2, 1e9, 1), 'exceeds what 1 epochs'),
    (lambda: rates.static_pair('a', 'b', 1.0), 'high_rate is 1.0'),
    (lambda: rates.static_pair('a', 'a', 0.5), "both 'a'"),
    (lambda: registry.register_mixture('x.y', {'no.such_task': 1.0}),
     "unknown task 'no.such_task'"),
])
def test_bad_input_is_rejected_with_the_value_named(call, message):
  with pytest.raises(ValueError, match=message):
    call()


def test_bad_family_leaves_registered_mixtures_untouched():
  before = {t.name for t in seqio.get_mixture_or_task('ptjf_mc4.tau2').tasks}
  from mixtures import mc4  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="size of task 'ptjf_mc4.yo' is -3"):
    mc4.PAPER.add('ptjf_mc4.yo', -3)
  assert 'ptjf_mc4.yo' not in mc4.PAPER.sizes
  after = {t.name for t in seqio.get_mixture_or_task('ptjf_mc4.tau2').tasks}
  assert before == after
