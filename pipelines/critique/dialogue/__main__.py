"""`python -m pipelines.critique.dialogue FIXTURE`: the dialogue critic's precision and recall per
finding code on a labelled fixture (see `pipelines.critique.evaluate.dialogue_main`)."""

import sys

from pipelines.critique.evaluate import dialogue_main

sys.exit(dialogue_main())
