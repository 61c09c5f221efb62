"""The rate table printed before a run: numbers and errors."""

import pytest
import seqio

from mixtures import registry
from mixtures import show


def test_rate_table_of_the_headline_mixture():
  rows = {r.task: r for r in show.rate_table('ptjf_mc4.tau3.33')}
  assert rows['ptjf_mc4.en'].size == 13396
  total = 13396 + 75 + 3.6 + 0.8 + 4.1
  assert rows['ptjf_mc4.gd'].natural_share == pytest.approx(0.8 / total)
  assert rows['ptjf_mc4.gd'].share == pytest.approx(0.0374976, abs=1e-7)
  assert sum(r.share for r in rows.values()) == pytest.approx(1.0)


def test_rate_table_of_a_grid_point():
  rows = {r.task: r for r in show.rate_table('ptjf_wmt.hi_fr.high0.7')}
  assert rows['ptjf_wmt.en_fr'].rate == 0.7
  assert rows['ptjf_wmt.en_hi'].size == 314_000
  assert rows['ptjf_wmt.en_hi'].unit.startswith('sentence pairs')


def test_format_table_lists_every_task():
  text = show.format_table('ptjf_synth.tau2',
                           show.rate_table('ptjf_synth.tau2'))
  assert 'size unit: documents' in text
  for lang in ('en', 'hi', 'gu', 'gd', 'sw'):
    assert f'ptjf_synth.{lang}' in text


def test_unimax_is_shown_once_a_run_registered_it():
  if 'ptjf_synth.unimax' in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove('ptjf_synth.unimax')
  with pytest.raises(ValueError, match=r'ptjf_synth.unimax takes its budget '
                     'from the run that reads it: `ptjf plan RECIPE'):
    show.rate_table('ptjf_synth.unimax')
  registry.run_mixture('ptjf_synth.unimax', 320, 16,
                       {'inputs': 128, 'targets': 32})
  text = show.format_table('ptjf_synth.unimax',
                           show.rate_table('ptjf_synth.unimax'))
  assert 'size unit: tokens' in text


def test_unknown_mixture_is_rejected():
  with pytest.raises(ValueError, match="unknown mixture or task 'ptjf_mc4.tau4'"):
    show.rate_table('ptjf_mc4.tau4')


def test_command_prints_table_and_fails_cleanly(python_m):
  ok = python_m('mixtures.show', 'ptjf_mc4.tau3.33')
  assert ok.returncode == 0, ok.stderr
  assert 'ptjf_mc4.gd' in ok.stdout and '3.75%' in ok.stdout
  bad = python_m('mixtures.show', 'no_such.mixture')
  assert bad.returncode != 0
  assert "error: unknown mixture or task 'no_such.mixture'" in bad.stderr
