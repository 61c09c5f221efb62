"""SeqIO Tasks of the project; importing this package registers them all."""

from tasks import mc4
from tasks import synthetic
from tasks import wmt
