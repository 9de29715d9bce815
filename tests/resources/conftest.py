"""Objects the resource tests build on, made with the kinds themselves, in moto."""

import pytest

from ngp.resources import get_kind

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def policy(action):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::ngp-test/*"}]}


@pytest.fixture
def vpc_id(ctx):
    return get_kind("ec2.vpc").create(ctx, "network.vpc", {
        "name": "v", "cidr": "10.0.0.0/16", "dns_support": True, "dns_hostnames": True})[0]


@pytest.fixture
def subnet_id(ctx, vpc_id):
    return get_kind("ec2.subnet").create(ctx, "network.subnet", {
        "name": "s", "vpc_id": vpc_id, "cidr": "10.0.0.0/20", "az": "us-east-1a",
        "public": True})[0]


@pytest.fixture
def igw_id(ctx, vpc_id):
    return get_kind("ec2.internet_gateway").create(ctx, "network.igw",
                                                   {"name": "i", "vpc_id": vpc_id})[0]


@pytest.fixture
def nat_subnet_id(subnet_id, igw_id):
    """A public subnet whose VPC has its internet gateway attached: where a NAT gateway
    can be (ec2.nat-needs-attached-igw)."""
    return subnet_id


@pytest.fixture
def eip_id(ctx):
    return get_kind("ec2.eip").create(ctx, "network.eip", {"name": "e"})[0]


@pytest.fixture
def image(ctx):
    return get_kind("ec2.image").lookup(ctx, {"owners": ["099720109477"],
                                              "name": "ubuntu/images/*xenial*"})


@pytest.fixture
def role_name(ctx):
    return get_kind("iam.role").create(ctx, "x.role", {
        "name": "ngp-x-role", "path": "/ngp/test/", "trust": TRUST, "policies": {}})[0]


@pytest.fixture
def profile_arn(ctx, role_name):
    return get_kind("iam.instance_profile").create(ctx, "x.profile", {
        "name": "ngp-x-profile", "path": "/ngp/test/", "role": role_name})[1]["arn"]


def _instance(ctx, address, image, subnet_id):
    return get_kind("ec2.instance").create(ctx, address, {
        "name": "i", "image_id": image["id"], "root_device_name": image["root_device_name"],
        "instance_type": "t3.small", "subnet_id": subnet_id, "security_group_ids": [],
        "key_name": None, "instance_profile": None, "user_data": "#!/bin/sh\n",
        "root_volume_size": 10, "root_volume_type": "gp3"})[0]


@pytest.fixture
def instance_id(ctx, image, subnet_id, vpc_id):
    return _instance(ctx, "x.instance", image, subnet_id)


@pytest.fixture
def other_instance_id(ctx, image, subnet_id, vpc_id):
    return _instance(ctx, "x.other_instance", image, subnet_id)


@pytest.fixture
def zone_id(ctx):
    zone = ctx.aws.client("route53").create_hosted_zone(Name="example.com",
                                                        CallerReference="t")
    return zone["HostedZone"]["Id"].split("/")[-1]


@pytest.fixture
def launch_template(ctx, image):
    return get_kind("ec2.launch_template").create(ctx, "x.lt", {
        "name": "ngp-x-lt", "image_id": image["id"], "root_device_name": image["root_device_name"],
        "instance_type": "t3.small", "security_group_ids": [], "key_name": None,
        "instance_profile": None, "user_data": "#!/bin/sh\n", "root_volume_size": 10,
        "root_volume_type": "gp3"})[1]


@pytest.fixture
def sg_id(ctx, vpc_id):
    return get_kind("ec2.security_group").create(ctx, "x.sg", {
        "name": "ngp-x-sg", "description": "d", "vpc_id": vpc_id, "ingress": []})[0]


@pytest.fixture
def policy_arn(ctx):
    return get_kind("iam.policy").create(ctx, "x.policy", {
        "name": "ngp-x-policy", "path": "/ngp/test/", "document": policy("s3:GetObject")})[0]


@pytest.fixture
def lb_name(ctx, subnet_id, sg_id):
    return get_kind("elb.load_balancer").create(ctx, "x.lb", {
        "name": "ngp-x-lb", "scheme": "internal", "subnets": [subnet_id],
        "security_groups": [sg_id], "listeners": [{"protocol": "TCP", "port": 80,
                                                   "instance_protocol": "TCP",
                                                   "instance_port": 80}]})[0]


LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


@pytest.fixture
def lambda_role_arn(ctx):
    return get_kind("iam.role").create(ctx, "x.lambda_role", {
        "name": "ngp-x-lambda", "path": "/ngp/test/", "trust": LAMBDA_TRUST,
        "policies": {}})[1]["arn"]


def function_spec(name, role_arn):
    from ngp.resources.awslambda import code_sha256

    return {"name": name, "package": "marathon_snapshot",
            "code_sha256": code_sha256("marathon_snapshot"),
            "handler": "marathon_snapshot.snapshot_handler", "runtime": "python3.12",
            "role_arn": role_arn, "timeout": 60, "memory": 128,
            "environment": {"BUCKET": "b"}, "subnet_ids": [], "security_group_ids": []}


@pytest.fixture
def function(ctx, lambda_role_arn):
    return get_kind("lambda.function").create(ctx, "x.function",
                                              function_spec("ngp-x-fn", lambda_role_arn))[1]


@pytest.fixture
def rule(ctx):
    return get_kind("events.rule").create(ctx, "x.rule", {
        "name": "ngp-x-rule", "schedule": "rate(60 minutes)", "description": "d",
        "enabled": True})[1]


@pytest.fixture
def rest_api_id(ctx, function):
    return get_kind("apigateway.rest_api").create(ctx, "x.api", {
        "name": "ngp-x-api", "description": "d", "routes": [
            {"path": "restore", "method": "POST", "authorization": "AWS_IAM",
             "function_arn": function["arn"]}]})[0]


@pytest.fixture
def object_bucket(ctx):
    return get_kind("s3.bucket").create(ctx, "dcos.exhibitor_bucket", {
        "name": "ngp-exhibitor-test-123456789012", "versioning": True})[0]


@pytest.fixture
def object_files(tmp_path):
    """Two local files, each with its sha256: what an s3.object uploads."""
    import hashlib

    files = {}
    for name in ("one", "two"):
        path = tmp_path / f"installer-{name}.sh"
        path.write_text(f"#!/bin/sh\necho {name}\n")
        files[name] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return files


@pytest.fixture
def package_file(ctx, tmp_path):
    """A bucket of the env's and a wheel to upload to it: an s3.object's spec."""
    import hashlib

    from ngp.resources import get_kind

    bucket = get_kind("s3.bucket").create(ctx, "manager.bucket", {
        "name": "ngp-manager-test-123456789012", "versioning": True})[0]
    wheel = tmp_path / "ngp-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK a wheel")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return {"bucket": bucket, "key": f"packages/{sha}/{wheel.name}", "source": str(wheel),
            "sha256": sha}
