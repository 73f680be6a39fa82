"""The bot's files → records: sessions, the artifact tree, gates, TensorBoard scalars, storage.

Owns reading the bot's artifact folders (``artifacts`` for the tree and index.json, ``session`` for
one folder, ``lookup`` for the field lookup order), acceptance gates, TensorBoard event files
(``tb_events`` framing, ``tensorboard`` scraper and cache, ``tbcache`` where that cache lives;
``tb_series`` whole series as arrays and ``curvecache`` the learning curves kept between nights),
object storage (``storage``, ``mirror``), the load-once snapshot and the incremental load cache
(``columns``, ``snapshot``, ``loadcache``), hyperparameters (``hparams``), the user's notes and tags
beside the sessions (``notes``), and the demo tree (``demo``, ``demo_sweep``).

May import: ``ztbkit.core``.
"""
