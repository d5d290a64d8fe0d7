"""Network I/O off the UI thread: one matte (or hello) request per QThread, with progress and Cancel."""
from __future__ import annotations

import threading

from .daemon_info import refine_edges_option
from .mam_client import DaemonTimeout, DaemonUnavailable, MamClient, MamError, MatteCancelled
from .qt import QThread, pyqtSignal

HELLO_TIMEOUT_S = 5.0
_clients: dict = {}

# failure kinds the controller turns into messages
UNAVAILABLE, TIMEOUT, CANCELLED, ERROR = "unavailable", "timeout", "cancelled", "error"


def shared_client(endpoint: str) -> MamClient:
    """One connection per endpoint for the plugin's life (call from the UI thread): a canvas the
    daemon has already seen then travels as its digest only. Calls on it are serialised."""
    if endpoint not in _clients:
        _clients[endpoint] = MamClient(endpoint, timeout=HELLO_TIMEOUT_S, client_name="mam_krita")
    return _clients[endpoint]


def failure_kind(exc: BaseException) -> str:
    """Sort client exceptions into the few cases the UI words differently."""
    if isinstance(exc, DaemonUnavailable):
        return UNAVAILABLE
    if isinstance(exc, DaemonTimeout):
        return TIMEOUT
    if isinstance(exc, MatteCancelled):
        return CANCELLED
    return ERROR


class MatteWorker(QThread):
    """Runs MamClient.matte in its own thread; results come back as queued signals."""

    progress = pyqtSignal(str, float)
    succeeded = pyqtSignal(object)          # mam_client.DaemonMatte
    failed = pyqtSignal(str, str)           # kind, message

    def __init__(self, client: MamClient, timeout_s: float, canvas, prompt, guidance: str, foreground: bool = False,
                 refine_edges: bool = False, all_instances: bool = False, parent=None):
        super().__init__(parent)
        self._client, self._timeout_s = client, timeout_s
        self._canvas, self._prompt, self._guidance = canvas, prompt, guidance
        self._foreground = foreground   # also ask for the decontaminated colours (Extract Subject)
        self._refine_edges = refine_edges   # the classic edge refinement, if the daemon offers it
        self._instances = ("all" if all_instances else "best") if prompt.text is not None else None
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Safe from the UI thread: the client notices within ~0.1 s and tells the daemon."""
        self._cancel.set()

    def run(self) -> None:
        c, p = self._canvas, self._prompt
        try:
            refine, note = None, ""
            if self._refine_edges:   # sent only to a daemon whose hello offers it; otherwise the note says so
                refine, note = refine_edges_option(self._client.connect(), True, self._client.endpoint)
            result = self._client.matte(c.width, c.height, c.fmt, c.pixels, c.stride, box=p.box,
                                        points=p.points or None, mask=p.mask, guidance=self._guidance, depth=8,
                                        crop=True, foreground=self._foreground, refine=refine,
                                        text=p.text, instances=self._instances,
                                        on_progress=self.progress.emit, cancel_event=self._cancel,
                                        timeout=self._timeout_s)
            if note:
                result.notes = [note, *result.notes]
        except (MamError, DaemonUnavailable, DaemonTimeout, ValueError) as exc:
            self.failed.emit(failure_kind(exc), str(exc))
        except Exception as exc:  # a thread must report, never die silently and leave the UI waiting
            self.failed.emit(ERROR, f"unexpected {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


class HelloWorker(QThread):
    """Asks the daemon who it is, for the docker's status line."""

    answered = pyqtSignal(object)           # the hello dict
    failed = pyqtSignal(str, str)

    def __init__(self, endpoint: str, parent=None):
        super().__init__(parent)
        self._endpoint = endpoint

    def run(self) -> None:
        client = MamClient(self._endpoint, timeout=HELLO_TIMEOUT_S, connect_timeout=2.0, client_name="mam_krita")
        try:
            self.answered.emit(client.hello())
        except (MamError, DaemonUnavailable, DaemonTimeout, ValueError) as exc:
            self.failed.emit(failure_kind(exc), str(exc))
        finally:
            client.close()
