"""The practice cloud: moto's server on 127.0.0.1, so the deploy -> monitor -> teardown loop runs without AWS.

Real boto3 calls go over real HTTP to moto (SageMaker, S3, CloudWatch,
Application Auto Scaling); nothing is created anywhere else and nothing costs
money. The clients use dummy credentials of their own (the user's environment
and AWS profile are never read or changed). Everything that shows a practice
result says "practice". moto's endpoints are InService at once and its
``invoke_endpoint`` returns a canned body: the model itself is not run there
(the Deploy screen's local check runs the package under the container
contract).
"""

from __future__ import annotations

import errno
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError

HOST = "127.0.0.1"
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/WorkbenchPracticeRole"
BUCKET = "workbench-practice"
LABEL = "practice cloud"
# dummy credentials, only for the practice clients (moto accepts any)
_KEY_ID = "PRACTICEKEYID0000000"
_SECRET = "practice-secret-not-real-0000"


def _check_port(port: int) -> None:
    if port == 0:
        return
    if not 0 < port < 65536:
        raise WorkbenchError(f"port {port} is not a TCP port (1-65535, or 0 for any free one)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                why = "is taken by another program" if exc.errno == errno.EADDRINUSE else "is not allowed here"
                raise WorkbenchError(f"port {port} on {HOST} {why}: choose another port, or 0 for any "
                                     "free one") from None
            raise


@dataclass
class PracticeCloud:
    """A running moto server and the clients that talk to it."""

    server: Any
    url: str
    port: int
    region: str = REGION
    bucket: str = BUCKET
    role_arn: str = ROLE_ARN
    _session: Any = field(default=None, repr=False)
    _clients: Any = field(default=None, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    @property
    def label(self) -> str:
        return f"{LABEL} ({self.url})"

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session(aws_access_key_id=_KEY_ID, aws_secret_access_key=_SECRET,
                                                      region_name=self.region)
            return self._session

    def clients(self) -> Any:
        """The deploy clients, made once (boto3 clients are thread-safe; making them is not cheap)."""
        from engines.deploy.aws import make_clients

        session = self.session()
        with self._lock:
            if self._clients is None:
                self._clients = make_clients(self.region, self.url, session=session, retries=1)
            return self._clients

    def cloudwatch(self) -> Any:
        from engines.deploy.monitor import cloudwatch_client

        return cloudwatch_client(self.region, self.url, session=self.session())

    def alive(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        try:
            self.server.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass


_lock = threading.Lock()
_current: PracticeCloud | None = None


def start(port: int = 0) -> PracticeCloud:
    """Start the practice cloud on 127.0.0.1 (``port`` 0: any free port); the running one if it is up."""
    global _current
    with _lock:
        if _current is not None and _current.alive():
            if port in (0, _current.port):
                return _current
            raise WorkbenchError(f"the practice cloud already runs on port {_current.port}: stop it first")
        _check_port(port)
        try:
            import logging

            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise UnsupportedError("the practice cloud needs moto's server: pip install 'workbench[aws]'") from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        try:
            server.start()
        except OSError as exc:   # lost a race for the port
            raise WorkbenchError(f"cannot start the practice cloud on {HOST}:{port}: {exc.strerror or exc}") from None
        host, real_port = server.get_host_and_port()
        cloud = PracticeCloud(server, f"http://{host}:{real_port}", int(real_port))
        try:
            cloud.clients().s3.create_bucket(Bucket=cloud.bucket)
        except Exception as exc:
            cloud.stop()
            from engines.deploy.aws import error_text

            raise WorkbenchError(f"the practice cloud started but did not answer: {error_text(exc)}") from None
        _current = cloud
        return cloud


def current() -> PracticeCloud | None:
    """The running practice cloud, or None."""
    with _lock:
        return _current if _current is not None and _current.alive() else None


def stop() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current.stop()
            _current = None
