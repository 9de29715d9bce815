"""The sandbox's own middleware, without a server."""

from ngp.sandbox.server import AwsStyleErrors


def call(app):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(AwsStyleErrors(app)({"REQUEST_METHOD": "POST", "PATH_INFO": "/"},
                                        start_response))
    return seen["status"], seen["headers"], body


def test_a_crash_inside_moto_answers_a_bare_500_that_botocore_retries():
    def crashing(environ, start_response):
        start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html")])
        return [b"<!doctype html><title>500 Internal Server Error</title>"]

    status, headers, body = call(crashing)
    assert status.startswith("500") and body == b"" and headers["Content-Length"] == "0"


def test_aws_errors_pass_through_untouched():
    def aws_error(environ, start_response):
        start_response("400 Bad Request", [("Content-Type", "text/xml")])
        return [b"<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code></Error>"]

    status, headers, body = call(aws_error)
    assert status == "400 Bad Request" and b"InvalidVpcID.NotFound" in body


def test_botocore_retries_a_bare_500_and_parses_it():
    import threading

    import pytest
    from botocore.exceptions import ClientError
    from werkzeug.serving import make_server

    from ngp.aws import Aws

    hits = []

    def always_500(environ, start_response):
        hits.append(1)
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]

    server = make_server("127.0.0.1", 0, always_500, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        aws = Aws("us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
                  credentials={"aws_access_key_id": "t", "aws_secret_access_key": "t"},
                  max_attempts=3)
        with pytest.raises(ClientError):
            aws.client("ec2").describe_vpcs()
        assert len(hits) == 4  # the first try and max_attempts=3 retries
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_model_knows_operations_by_action_target_or_rest_path():
    from ngp.sandbox.model import operation, seconds

    def op(method="POST", path="/", query="", body=b"", target=""):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
        if target:
            environ["HTTP_X_AMZ_TARGET"] = target
        return operation(environ, body)

    assert op(body=b"Action=CreateNatGateway&Version=2016-11-15") == "CreateNatGateway"
    assert op(target="AmazonEC2ContainerRegistry_V20150921.CreateRepository") == \
        "CreateRepository"
    assert op(path="/2015-03-31/functions") == "CreateFunction"
    assert op(path="/2021-01-01/opensearch/domain") == "CreateDomain"
    assert op("PUT", "/ngp-bucket") == "CreateBucket"
    assert op("PUT", "/ngp-bucket", query="tagging") == "Call"  # a bucket's tags, not a bucket
    assert op("GET", "/ngp-bucket") == "Read"
    assert seconds("CreateNatGateway") == 110 and seconds("DescribeVpcs") == seconds("Read")


def test_the_model_waits_before_the_app_answers():
    import io
    import time

    from ngp.sandbox.model import AwsModel

    answered = []

    def app(environ, start_response):
        answered.append(time.perf_counter())
        start_response("200 OK", [])
        return [b""]

    body = b"Action=CreateVpc&Version=2016-11-15"
    started = time.perf_counter()
    AwsModel(app, scale=1000)({"REQUEST_METHOD": "POST", "PATH_INFO": "/",
                               "CONTENT_LENGTH": str(len(body)),
                               "wsgi.input": io.BytesIO(body)}, lambda *a: None)
    assert answered[0] - started >= 10 / 1000  # CreateVpc: 10 s on AWS


def test_under_the_model_every_service_ngp_calls_is_loaded_before_the_first_request():
    import re
    from pathlib import Path

    from moto.core.utils import get_service_model
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from ngp.sandbox.server import SERVICES, load_services

    source = "".join(p.read_text() for p in Path("ngp").rglob("*.py"))
    called = set(re.findall(r"""client\(["']([a-z0-9-]+)["']""", source))
    assert called and called <= set(SERVICES)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    load_services(dispatcher)
    assert set(dispatcher.app_instances) == set(SERVICES)
    before = get_service_model.cache_info().misses
    for service in SERVICES:
        get_service_model(service)
    assert get_service_model.cache_info().misses == before  # all loaded already
