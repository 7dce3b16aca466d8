"""Fixtures for the deploy reliability tests: moto's server, a fault-injecting proxy in front of it."""

from __future__ import annotations

import dataclasses

import pytest

from engines.deploy.aws import make_clients
from tests.reliability.aws_proxy import AwsProxy
from tests.unit.deploy_helpers import BUCKET, MotoServer, fake_credentials


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(moto_server):
    p = AwsProxy(moto_server.url).start()
    yield p
    p.stop()


@pytest.fixture
def direct(moto_server, proxy, monkeypatch):
    """Fresh moto state and a bucket; clients straight to moto (what really exists), proxy rules cleared."""
    moto_server.reset()
    proxy.clear()
    proxy.seen.clear()
    proxy.held.clear()
    proxy.release.clear()
    fake_credentials(monkeypatch)
    clients = make_clients("us-east-1", moto_server.url)
    clients.s3.create_bucket(Bucket=BUCKET)
    yield clients
    proxy.release.set()


@pytest.fixture
def via_proxy(direct, proxy):
    """Clients through the proxy, no retries (a cut connection fails at once)."""
    return dataclasses.replace(make_clients("us-east-1", proxy.url, retries=0))
