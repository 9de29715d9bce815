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
