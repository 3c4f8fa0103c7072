# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""ECR registry logins: which registry hosts are ECR, one GetAuthorizationToken call per region, the login entries.

Shared by the ecr_authorization_token and image_mirror modules.
"""

import base64
import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# <account>.dkr.ecr.<region>.amazonaws.com, also FIPS (dkr.ecr-fips), dual-stack (dkr-ecr...on.aws) and the other
# partitions' DNS suffixes.
ECR_HOST = re.compile(r"^\d{12}\.dkr[.-]ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|amazonaws\.eu|on\.aws"
                      r"|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$")


def registry_host(reference):
    """Registry host of a registry host, an image reference or a proxy endpoint URL (as container tools read it:
    the first path component when it has a dot or a port or is localhost, else Docker Hub)."""
    ref = reference.strip().split("://", 1)[-1].rstrip("/")
    first, slash, _rest = ref.partition("/")
    if slash and not ("." in first or ":" in first or first == "localhost"):
        return "docker.io"
    return first.lower()


def ecr_region(host):
    """The region of an ECR registry host, None for any other host."""
    match = ECR_HOST.match(host)
    return match.group(1) if match else None


def partition_dns_suffix(region):
    """amazonaws.com, amazonaws.com.cn, c2s.ic.gov, ... for region (botocore's partition data)."""
    import botocore.loaders

    partitions = botocore.loaders.create_loader().load_data("endpoints")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["dnsSuffix"]
    for partition in partitions:
        if re.match(partition.get("regionRegex") or "$^", region):
            return partition["dnsSuffix"]
    return "amazonaws.com"


def plan(hosts, own_host, region, skip_others):
    """({host: token region}, [skipped hosts], error or None) for the requested hosts, in their order."""
    named, skipped = {}, []
    for host in hosts:
        token_region = ecr_region(host) or (region if host == own_host else None)
        if token_region:
            named.setdefault(host, token_region)
        elif skip_others:
            if host not in skipped:
                skipped.append(host)
        else:
            return {}, [], (f"{host} is not an Amazon ECR registry (nor this endpoint's registry {own_host}): the ECR "
                            "token is only handed to ECR registries; set other_registries=skip to leave it out")
    return named, skipped, None


def get_token(module, region):
    """The authorizationData item of GetAuthorizationToken in region (no registryIds: deprecated)."""
    ecr = module.client("ecr", region=region, retry_decorator=AWSRetry.jittered_backoff())
    try:
        data = ecr.get_authorization_token(aws_retry=True)["authorizationData"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"cannot get an ECR authorization token in region {region}")
    if not data:
        module.fail_json(msg=f"ECR returned no authorization data in region {region}")
    return data[0]


def logins(module, references, skip_others):
    """(registries, auths, skipped) for the registry hosts of references (image references or hosts); empty
    references means the caller's own registry in the module's region. Fails the module on a host that is not ECR
    unless skip_others."""
    region = module.region
    hosts = [registry_host(r) for r in references]
    tokens, own_host = {}, None
    if not hosts or any(ecr_region(h) is None for h in hosts):  # the own registry's host is needed
        tokens[region] = get_token(module, region)
        own_host = registry_host(tokens[region]["proxyEndpoint"])
    named, skipped, error = plan(hosts or [own_host], own_host, region, skip_others)
    if error:
        module.fail_json(msg=error)
    for token_region in named.values():
        if token_region not in tokens:
            tokens[token_region] = get_token(module, token_region)
    registries, auths = [], {}
    for host, token_region in named.items():
        item = tokens[token_region]
        username, _, password = base64.b64decode(item["authorizationToken"]).decode().partition(":")
        registries.append(dict(registry=host, username=username, password=password,
                               expires_at=item["expiresAt"].isoformat()))
        auths[host] = {"auth": item["authorizationToken"]}
    return registries, auths, skipped
