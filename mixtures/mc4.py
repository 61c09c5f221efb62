"""mC4 mixtures: the paper's five languages, and every mC4 language.

  ptjf_mc4.tau<t>      en, hi, gu, gd, sw at temperature t in 1, 1.43, 2, 3.33, 5
  ptjf_mc4.unimax      the same five under UniMax, at most one epoch of any,
                       its budget the tokens of the run that reads it
  ptjf_mc4.en_only     English alone: the pre-training phase of PTJF
  ptjf_mc4.en_hi       English and Hindi at temperature 3.33: the pre-training
                       of PTJF from several high-resource languages
  ptjf_mc4_all.tau<t>  every mC4 language, sized by TFDS document counts;
                       not 'und' (undetermined language), as in mT5
"""

from mixtures import registry
from mixtures import sizes
from tasks import mc4

PAPER_LANGUAGES = ('en', 'hi', 'gu', 'gd', 'sw')
HIGH_RESOURCE = 'en'
# PTJF from several high-resource languages pre-trains on these, mixed at the
# joint fine-tune's temperature.
HIGH_RESOURCE_SET = ('en', 'hi')
HIGH_RESOURCE_SET_TAU = 3.33

# UniMax's cap on passes over a language; the budget is the run's own.
UNIMAX_MAX_EPOCHS = 1.0

PAPER = registry.Family(
    prefix=mc4.PREFIX,
    sizes={mc4.task_name(lang): sizes.MC4_PAPER_CHARS_BILLIONS[lang]
           for lang in PAPER_LANGUAGES},
    unit='billion characters (Choi et al., Table 2)',
    unimax_max_epochs=UNIMAX_MAX_EPOCHS)
PAPER.register()
_EN = mc4.task_name(HIGH_RESOURCE)
registry.register_single(f'{mc4.PREFIX}.en_only', _EN, PAPER.sizes[_EN],
                         PAPER.unit)
PAPER.register_subset('_'.join(HIGH_RESOURCE_SET),
                      [mc4.task_name(lang) for lang in HIGH_RESOURCE_SET],
                      HIGH_RESOURCE_SET_TAU)

ALL = registry.Family(
    prefix=f'{mc4.PREFIX}_all',
    sizes={mc4.task_name(lang): sizes.MC4_DOCUMENTS[lang]
           for lang in mc4.LANGUAGES},
    unit=f'documents (TFDS {mc4.TFDS_NAME} {mc4.TFDS_VERSION})')
ALL.register()
