"""A session's hyperparameters, from every place the bot writes them → one flat ``{name: value}``.

Sources, and which wins when two name the same hyperparameter (first wins):

1. ``run_metadata.json``: the backtest envelope's ``payload.config`` or the environment capture's
   ``run_config`` (the bot's own record of what it ran with; FORMATS.md's two shapes that carry one).
2. The TensorBoard hparams plugin: the ``_hparams_/session_start_info`` summary that tensorboardX's
   ``add_hparams``, torch's ``SummaryWriter.add_hparams`` and Stable-Baselines3's ``HParam`` write,
   read from the first :data:`TB_HEAD_BYTES` (64 KiB) of each event file under ``tb/`` or ``tensorboard/``.
3. The run folder's name, where it encodes a sweep (:func:`name_hparams`).

Nested objects are flattened with dots (``{"risk": {"target_vol": 0.1}}`` → ``risk.target_vol``);
lists become their JSON text so they can be compared; values are numbers, text, booleans or None.
Reading never raises for bad content: a file that cannot be read adds a problem and is skipped.
With the nightly's load cache (:mod:`ztbkit.data.loadcache`), a session is re-read when one of its
JSON files changes, not when only its TensorBoard files do: hparams written to TensorBoard after the
run's files were cached show up once the bot next rewrites summary.json (every run does at its end),
or at once with ``ztb nightly --no-cache``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

from ztbkit.core.errors import Reason, os_reason
from ztbkit.core.jsonread import Problem

#: Bytes read from the start of each event file: the hparams summary is written when training starts
#: (step 0), so reading stops there or at the first event past step 0, whichever comes first.
TB_HEAD_BYTES = 64 * 1024
#: Event files looked at per session (a resumed run has a few; a sweep folder may have one per trial).
TB_MAX_FILES = 32
TB_FOLDERS = ("tb", "tensorboard")
SSI_TAG = "_hparams_/session_start_info"
#: The sources in the order they win (docs/FORMATS.md's table, checked by a test): (source, key).
SOURCES = (
    ("run_metadata.json", "payload.config"),
    ("run_metadata.json", "run_config"),
    ("TensorBoard hparams plugin", SSI_TAG),
    ("the folder name", "<name>_<param>_<value>"),
)

Scalar = str | int | float | bool | None

# <name>_<param>_<value>: the value is the last `_` word, a number as the bot writes it in a folder name.
_VALUE = re.compile(r"^-?\d+(?:p\d+)?(?:e-?\d+)?$")


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Scalar]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` → ``{"a.b": 1, "c": "[1, 2]"}``; NaN and infinities become None."""
    out: dict[str, Scalar] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, float) and not math.isfinite(value):
            out[name] = None
        elif value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        else:
            out[name] = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return out


def config_hparams(run_metadata: Mapping[str, Any]) -> dict[str, Scalar]:
    """Hyperparameters in a ``run_metadata.json`` document (see the module docstring); {} when none."""
    payload = run_metadata.get("payload")
    for holder, key in ((payload, "config"), (run_metadata, "run_config")):
        if isinstance(holder, Mapping) and isinstance(holder.get(key), Mapping):
            return flatten(holder[key])
    return {}


def parse_name_value(text: str) -> int | float | None:
    """A value as a sweep writes it in a folder name: ``02500`` → 0.25 (a leading 0 means "0."),
    ``2048`` → 2048, ``1p5`` → 1.5, ``3e-4`` → 0.0003, ``0`` → 0; None when it is not a number."""
    if not _VALUE.match(text):
        return None
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    if "e" in digits:
        return float(sign + digits.replace("p", "."))
    if "p" in digits:
        return float(sign + digits.replace("p", "."))
    if len(digits) > 1 and digits.startswith("0"):
        return float(f"{sign}0.{digits[1:]}")
    return int(sign + digits)


def name_hparams(name: str) -> dict[str, Scalar]:
    """The hyperparameter a sweep encoded in a run folder's name, ``<name>_<param>_<value>``.

    The value is the last ``_``-separated word and must be a number (:func:`parse_name_value`). The
    parameter is the longest run of words before it that also appears earlier in the name (a sweep
    names itself after what it sweeps: ``vf_coef_test_vf_coef_02500`` → ``vf_coef`` = 0.25); failing
    that, every word after the first, which is the sweep's own name (``sweep_gamma_099`` → ``gamma`` =
    0.99, ``ppo_batch_size_64`` → ``batch_size`` = 64). So ``lr_3`` (no sweep name) or a timestamp id
    encodes nothing.
    """
    words = name.split("_")
    if len(words) < 3 or any(not w for w in words):
        return {}
    value = parse_name_value(words[-1])
    if value is None:
        return {}
    head = words[:-1]
    for size in range(len(head) - 1, 0, -1):
        param, before = head[-size:], head[:-size]
        if param[0][:1].isalpha() and _contains(before, param):
            return {"_".join(param): value}
    if not head[1][:1].isalpha():
        return {}
    return {"_".join(head[1:]): value}


def _contains(words: list[str], part: list[str]) -> bool:
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))


def _value_of(v: Any) -> Scalar:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        num = float(v.number_value)
        if not math.isfinite(num):
            return None
        return int(num) if num.is_integer() and abs(num) < 2**53 else num
    if kind == "string_value":
        return str(v.string_value)
    if kind == "bool_value":
        return bool(v.bool_value)
    return None


def _event_files(folder: str) -> list[str]:
    found: list[str] = []
    for sub in TB_FOLDERS:
        stack = [os.path.join(folder, sub)]
        while stack and len(found) < TB_MAX_FILES:
            try:
                entries = sorted(os.scandir(stack.pop()), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if e.name.startswith("events.out.tfevents") and e.is_file(follow_symlinks=False):
                    found.append(e.path)
                elif e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return found[:TB_MAX_FILES]


def tb_hparams_file(path: str, problems: list[Problem] | None = None) -> dict[str, Scalar]:
    """The hparams of one event file's ``session_start_info`` summary (the last one in its head wins)."""
    import struct

    from tensorboardX.proto import event_pb2, plugin_hparams_pb2

    try:
        with open(path, "rb") as fh:
            data = fh.read(TB_HEAD_BYTES)
    except OSError as exc:
        if problems is not None:
            problems.append(Problem(path, Reason("cannot read: {reason}", reason=os_reason(exc))))
        return {}
    out: dict[str, Scalar] = {}
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 16 + length
        if end > len(data):
            break  # past the head (or cut short): the summary is near the start, so stop here
        try:
            event = event_pb2.Event.FromString(data[pos + 12 : end - 4])
        except Exception:  # protobuf's DecodeError type differs between backends; a bad record is skipped
            event = None
        pos = end
        if event is None:
            continue
        if event.step > 0 and out:
            break  # training has started: no session_start_info after this point
        for value in event.summary.value:
            meta = value.metadata.plugin_data
            if value.tag != SSI_TAG or meta.plugin_name != "hparams":
                continue
            try:
                plugin = plugin_hparams_pb2.HParamsPluginData.FromString(meta.content)
            except Exception:
                if problems is not None:
                    problems.append(Problem(path, Reason("undecodable hparams summary; skipped")))
                continue
            for name, v in plugin.session_start_info.hparams.items():
                out[str(name)] = _value_of(v)
    return out


def tb_hparams(folder: str, problems: list[Problem] | None = None) -> dict[str, Scalar]:
    """The TensorBoard hparams of a session folder (every event file under tb/ or tensorboard/)."""
    out: dict[str, Scalar] = {}
    for path in _event_files(folder):
        for name, value in tb_hparams_file(path, problems).items():
            out.setdefault(name, value)
    return out


def session_hparams(
    run_metadata: Mapping[str, Any],
    folder: str | None,
    name: str,
    problems: list[Problem] | None = None,
) -> dict[str, Scalar]:
    """Every source merged, sorted by name (see the module docstring for which one wins)."""
    merged: dict[str, Scalar] = dict(name_hparams(name))
    if folder is not None and "://" not in folder:
        merged.update(tb_hparams(folder, problems))
    merged.update(config_hparams(run_metadata))
    return dict(sorted(merged.items()))
