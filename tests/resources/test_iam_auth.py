"""The strict sandbox's iam.identity-policies rule: an IAM user's requests are judged by its
policies, as AWS judges them; moto alone lets them all through."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from ngp.sandbox.rules.iam_auth import rest_operation

BOUNDARY = "arn:aws:iam::123456789012:policy/ngp/e/ngp-boundary-e"


def user_client(aws, service, document):
    """A client signing as a new IAM user whose one policy is document."""
    iam = aws.client("iam")
    iam.create_user(UserName="runner")
    iam.put_user_policy(UserName="runner", PolicyName="p", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="runner")["AccessKey"]
    return boto3.client(service, endpoint_url=aws.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"])


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_a_role_without_the_boundary_is_refused_with_it_allowed(aws):
    iam = user_client(aws, "iam", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
        "Resource": "arn:aws:iam::123456789012:role/ngp/e/*",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}}]})
    aws.client("iam").create_policy(PolicyName="ngp-boundary-e", Path="/ngp/e/",
                                    PolicyDocument=json.dumps({"Version": "2012-10-17",
                                        "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                       "Resource": "*"}]}))
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    with pytest.raises(ClientError) as refused:
        iam.create_role(RoleName="evil", Path="/ngp/e/", AssumeRolePolicyDocument=trust)
    assert code(refused) == "AccessDenied"
    assert "not authorized to perform: iam:CreateRole on resource: " \
        "arn:aws:iam::123456789012:role/ngp/e/evil" in str(refused.value)
    iam.create_role(RoleName="ok", Path="/ngp/e/", AssumeRolePolicyDocument=trust,
                    PermissionsBoundary=BOUNDARY)
    iam.put_role_policy(RoleName="ok", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                "Resource": "arn:aws:s3:::b"}]}))
    # A role the user may not name: outside the env's path.
    with pytest.raises(ClientError):
        iam.create_role(RoleName="ok", Path="/other/", AssumeRolePolicyDocument=trust,
                        PermissionsBoundary=BOUNDARY)


def test_s3_and_ec2_are_judged_too(aws):
    aws.client("s3").create_bucket(Bucket="ngp-x-e")
    aws.client("s3").create_bucket(Bucket="someone-elses")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutBucketVersioning", "s3:GetBucketVersioning"],
         "Resource": "arn:aws:s3:::ngp-*-e"},
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
    s3 = user_client(aws, "s3", document)
    s3.put_bucket_versioning(Bucket="ngp-x-e", VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_versioning(Bucket="someone-elses",
                                 VersioningConfiguration={"Status": "Enabled"})
    assert code(refused) == "AccessDenied"
    key = aws.client("iam").create_access_key(UserName="runner")["AccessKey"]
    ec2 = boto3.client("ec2", endpoint_url=aws.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    ec2.describe_vpcs()
    with pytest.raises(ClientError) as refused:
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert code(refused) == "UnauthorizedOperation"


def test_the_sandboxs_own_credentials_are_the_accounts_root(aws):
    aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))


def test_rest_requests_are_named_from_botocores_request_uris():
    assert rest_operation("s3", "PUT", "/b", {"versioning": [""]}) == "PutBucketVersioning"
    assert rest_operation("s3", "PUT", "/b", {}) == "CreateBucket"
    assert rest_operation("s3", "PUT", "/b/some/key", {}) == "PutObject"
    assert rest_operation("s3", "GET", "/", {}) == "ListBuckets"
    assert rest_operation("s3", "POST", "/b", {"delete": [""]}) == "DeleteObjects"
    assert rest_operation("lambda", "GET", "/2015-03-31/functions/f", {}) == "GetFunction"
    assert rest_operation("opensearch", "POST", "/2021-01-01/opensearch/upgradeDomain",
                          {}) == "UpgradeDomain"
