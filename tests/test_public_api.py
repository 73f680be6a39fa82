from __future__ import annotations

import ztbkit
from ztbkit.core import errors


def test_all_is_sorted_and_complete() -> None:
    assert ztbkit.__all__ == sorted(ztbkit.__all__)
    for name in ztbkit.__all__:
        assert hasattr(ztbkit, name), name


def test_errors_share_one_root_and_mix_in_builtins() -> None:
    assert issubclass(errors.ArtifactsNotFoundError, errors.ZtbError)
    assert issubclass(errors.ArtifactsNotFoundError, FileNotFoundError)
    for cls in (errors.ArtifactError, errors.UsageError, errors.InputFileError):
        assert issubclass(cls, errors.ZtbError) and issubclass(cls, ValueError)
