"""The Jupyter kernel a report runs in: which kernel, a race-free transport, and a headless engine."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any


def kernel_name() -> str:
    """$ZTB_KERNEL, else the ``ztbkit`` kernel `make setup` installs, else ipykernel's own python3."""
    if os.environ.get("ZTB_KERNEL"):
        return os.environ["ZTB_KERNEL"]
    from jupyter_client.kernelspec import KernelSpecManager

    return "ztbkit" if "ztbkit" in KernelSpecManager().find_kernel_specs() else "python3"


# A Unix socket path must fit in sun_path (104 bytes on macOS, 108 on Linux); the kernel appends "-N".
_MAX_IPC_PREFIX = 90


@contextlib.contextmanager
def kernel_transport() -> Iterator[dict[str, Any]]:
    """papermill/nbclient keyword arguments that start one kernel without racing other starts.

    With TCP, jupyter_client picks free ports by binding port 0 and closing the socket before the
    kernel binds it, so kernels starting at the same moment in separate processes can pick the same
    port ("Kernel didn't respond"). On POSIX the kernel instead gets IPC sockets under a fresh
    private folder (mode 0700, removed afterwards): names no other run can choose. Elsewhere (Windows)
    or when the temp path is too long for a socket, TCP stays and the start retry covers the race.
    """
    if os.name != "posix":
        yield {}
        return
    from traitlets.config import Config

    runtime = tempfile.mkdtemp(prefix="ztb-kernel-")
    try:
        prefix = os.path.join(runtime, "k")
        if len(prefix.encode()) > _MAX_IPC_PREFIX:
            yield {}
            return
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = prefix
        config.KernelManager.connection_file = os.path.join(runtime, "kernel.json")
        yield {"config": config}
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


_ENGINE = "ztbkit"


@functools.cache
def headless_engine() -> str:
    """Register (once per process) and name the papermill engine reports run with: papermill's own
    nbclient engine, except that Output widgets keep their state in the notebook instead of sending it
    to the kernel (the hang in the module docstring)."""
    from nbclient.output_widget import OutputWidget
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class QuietOutputWidget(OutputWidget):
        def _publish_msg(self, *args: Any, **kwargs: Any) -> None:
            """Nothing goes back to the kernel: nobody reads its copy of the state in a headless run."""

    class Client(PapermillNotebookClient):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.widget_registry = {"@jupyter-widgets/output": {"OutputModel": QuietOutputWidget}}

    class Engine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
            # papermill's NBClientEngine.execute_managed_notebook, with the client above.
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout or kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)  # fmt: skip
            return Client(nb_man, **final).execute()

    papermill_engines.register(_ENGINE, Engine)
    return _ENGINE
