"""The lab's identity-policy evaluator (lab/edgelab/aws/iam_policy.py) and request parsing (iam_enforce.py), without
a server: AWS's evaluation rules on the cases the product's policies use."""

import pytest
from edgelab.aws import iam_enforce
from edgelab.aws.iam_policy import ALLOWED, DENIED, IMPLICIT, condition_holds, evaluate


def policy(*statements):
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def test_explicit_deny_beats_allow_and_nothing_is_implicit_deny():
    p = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
               {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"})
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::b/k", {}) == ALLOWED
    assert evaluate(p, "s3:DeleteObject", "arn:aws:s3:::b/k", {}) == DENIED
    assert evaluate(p, "ec2:DescribeVpcs", "*", {}) == IMPLICIT
    assert evaluate(policy({"Effect": "Allow", "Action": "S3:getobject", "Resource": "*"}), "s3:GetObject", "x",
                    {}) == ALLOWED  # actions are case-insensitive


def test_not_action_not_resource_and_policy_variables():
    p = policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"},
               {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::1:user/${aws:username}"})
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::public/k", {}) == ALLOWED
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::secret/k", {}) == IMPLICIT
    assert evaluate(p, "iam:GetUser", "arn:aws:iam::1:user/ann", {"aws:username": ["ann"]}) == ALLOWED
    assert evaluate(p, "iam:GetUser", "arn:aws:iam::1:user/bob", {"aws:username": ["ann"]}) == IMPLICIT


@pytest.mark.parametrize(("operator", "key", "expected", "context", "holds"), [
    ("StringEquals", "aws:ResourceTag/team", "edge", {"aws:resourcetag/team": ["edge"]}, True),
    ("StringEquals", "aws:ResourceTag/team", "edge", {}, False),  # absent key: no match
    ("StringNotEquals", "aws:ResourceTag/team", "edge", {}, True),  # negated operators hold on an absent key
    ("StringEqualsIfExists", "aws:ResourceTag/team", "edge", {}, True),
    ("StringLike", "s3:prefix", ["models/*", "logs/*"], {"s3:prefix": ["logs/1"]}, True),
    ("Null", "aws:RequestTag/team", "true", {}, True),
    ("Null", "aws:RequestTag/team", "false", {}, False),
    ("Bool", "aws:SecureTransport", "false", {"aws:securetransport": ["true"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env"], {"aws:tagkeys": ["team"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {"aws:tagkeys": ["team", "cost"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], {"aws:tagkeys": ["cost", "team"]}, True),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/edge-*", {"aws:principalarn": ["arn:aws:iam::1:role/x"]},
     False),
    ("NumericLessThan", "x:n", "10", {"x:n": ["3"]}, True),
    ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:currenttime": ["2026"]}, False),
])
def test_condition_operators(operator, key, expected, context, holds):
    assert condition_holds(operator, key, expected, context) is holds


@pytest.mark.parametrize(("service", "method", "path", "query", "headers", "operation"), [
    ("s3", "GET", "/b/k/x", {}, {}, "GetObject"),
    ("s3", "GET", "/b", {"list-type": ["2"]}, {}, "ListObjectsV2"),
    ("s3", "PUT", "/b/k", {}, {}, "PutObject"),
    ("s3", "PUT", "/b/k", {}, {"x-amz-copy-source": "a/b"}, "CopyObject"),
    ("s3", "DELETE", "/b/k", {}, {}, "DeleteObject"),
    ("s3", "DELETE", "/b/k", {"uploadId": ["u"]}, {}, "AbortMultipartUpload"),
    ("eks", "POST", "/clusters/c/addons", {}, {}, "CreateAddon"),
    ("eks", "DELETE", "/clusters/c/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr", {}, {}, "DeleteAccessEntry"),
    ("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", {}, {}, "ChangeResourceRecordSets"),
])
def test_rest_operations_are_named_as_botocore_names_them(service, method, path, query, headers, operation):
    assert iam_enforce._rest_operation(service, method, path, query, headers)[0] == operation
