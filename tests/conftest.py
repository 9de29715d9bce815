"""Fixtures shared by every test. No test may reach a real AWS account: credentials are fake,
profiles and config files are cut off, and every client points at moto."""

from __future__ import annotations

import os

# Set before boto3 is imported anywhere, so nothing can pick up a real profile.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
             "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "NGP_ENV", "NGP_HOME"):
    os.environ.pop(_var, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
})

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from ngp.aws import Aws  # noqa: E402
from ngp.resources import Context  # noqa: E402
from tests.homes import Home  # noqa: E402


@pytest.fixture
def aws():
    """An in-process moto AWS, and ngp's client factory pointed at it."""
    with mock_aws():
        yield Aws("us-east-1", credentials={"aws_access_key_id": "testing",
                                            "aws_secret_access_key": "testing"})


@pytest.fixture
def ctx(aws):
    return Context(aws=aws, env="test", lineage="lineage-test")


@pytest.fixture
def local_marathon():
    """A local Marathon on a loopback port, its deployments taking 0.1 s; stopped after."""
    import threading

    from werkzeug.serving import make_server

    from ngp.sandbox.marathon import LocalMarathon

    app = LocalMarathon(deploy_seconds=0.1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield app
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def marathon(local_marathon):
    from ngp.marathon.client import Marathon

    client = Marathon(local_marathon.url, poll=0.02)
    yield client
    client.close()


# -- projects with a running sandbox (moto's server over HTTP), for e2e and reliability --


@pytest.fixture(scope="session")
def home(tmp_path_factory):
    """A project with a running sandbox, shared by the e2e tests (each uses its own env)."""
    project = Home(tmp_path_factory.mktemp("ngp-home"))
    project.ngp("sandbox", "start", check=True, timeout=90)
    yield project
    project.stop()


@pytest.fixture(scope="session")
def slow_home(tmp_path_factory):
    """A project whose sandbox answers every AWS request 15 ms late, so a run is slow
    enough to be killed or raced at many points."""
    project = Home(tmp_path_factory.mktemp("ngp-slow"))
    project.ngp("sandbox", "start", "--latency-ms", "15", check=True, timeout=90)
    yield project
    project.stop()


@pytest.fixture(scope="session")
def kill_home(tmp_path_factory):
    """A project whose sandbox answers every AWS request 2 ms late: a kill lands inside AWS
    calls as well as between saves (the moment is chosen by the state's serial)."""
    project = Home(tmp_path_factory.mktemp("ngp-kill"))
    project.ngp("sandbox", "start", "--latency-ms", "2", check=True, timeout=90)
    yield project
    project.stop()
