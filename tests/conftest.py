"""Fixtures shared by every test. No test may reach a real AWS account: credentials are fake,
profiles and config files are cut off, and every client points at moto, behind the strict
sandbox's rules (ngp/sandbox/strict.py): the in-process tests meet AWS's rules too."""

from __future__ import annotations

import os
import tempfile
import threading
import urllib.request
from pathlib import Path

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
# The local Marathon checks apps against Marathon's own schema, found here at run time (the
# README: some tests skip where shared/reference is absent; this one falls back to ngp's rules).
MARATHON_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "marathon" / \
    "schema"
if MARATHON_SCHEMA.is_dir():
    os.environ.setdefault("NGP_MARATHON_SCHEMA", str(MARATHON_SCHEMA))

from ngp.sandbox.server import prepare_moto  # noqa: E402

prepare_moto(Path(tempfile.mkdtemp(prefix="ngp-moto-")))  # before moto is imported

import pytest  # noqa: E402

from ngp.aws import Aws  # noqa: E402
from ngp.resources import Context  # noqa: E402
from tests.homes import Home  # noqa: E402

TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def strict_endpoint():
    """The sandbox's AWS (moto behind every strict rule) in this process, on a loopback
    port: what the in-process tests talk to over HTTP, as ngp talks to AWS."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    from ngp.sandbox.server import aws_app

    server = make_server("127.0.0.1", 0, aws_app(), threaded=True,
                         request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def reset_aws(endpoint: str) -> None:
    """Empty moto and the rules' memory: each test starts with a fresh account."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


@pytest.fixture
def aws(strict_endpoint):
    """A fresh strict AWS, and ngp's client factory pointed at it."""
    reset_aws(strict_endpoint)
    yield Aws("us-east-1", endpoint_url=strict_endpoint, credentials=TEST_CREDENTIALS)


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


@pytest.fixture
def marathons(local_marathon):
    """A run's Marathon clients, the local Marathon being the env's fixed one."""
    from ngp.marathon.endpoints import Marathons

    pool = Marathons(local_marathon.url, poll=0.02)
    yield pool
    pool.close()


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
