"""Rendered reports: the five report notebooks (package data, in ``notebooks/``), what they display
(``views``, ``money_views``, ``compare_view``, ``blocks``, ``dashboard``, ``dashboard_analysis``), the
interactive learning curves (``interactive_curves``, with uPlot shipped in ``static/``), where they look for
artifacts (``locations``), running them headless (``runner``, ``kernel``) and exporting them
(``export``, the nbconvert template in ``templates/``).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``, ``ztbkit.analysis``. Never ``notify``.
"""
