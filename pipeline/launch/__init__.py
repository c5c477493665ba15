"""Launching runs from Hydra: what a job learns from Hydra (``context``), a job's tracker
and printed summary (``job``), the multirun callback (``callback``) and the sweep's own run
(``sweep``), worker warm-up (``workers``), and the adapters around private APIs of Hydra's
launcher plugins (``plugins``). With ``train.py``, the only code that imports Hydra.
"""
