"""Rendered reports: the four report notebooks (package data, in ``notebooks/``), what they display
(``views``, ``money_views``, ``blocks``, ``dashboard``, ``dashboard_analysis``), where they look for
artifacts (``locations``), running them headless (``runner``, ``kernel``) and exporting them
(``export``, the nbconvert template in ``templates/``).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``, ``ztbkit.analysis``. Never ``notify``.
"""
