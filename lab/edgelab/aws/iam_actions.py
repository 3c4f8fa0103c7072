"""API operation -> IAM action names, where they differ, for the lab's IAM enforcement and scripts/aws_actions.py.

For every service the lab serves the IAM action is `<signing name>:<Operation>`, except S3 (below) and the extra
actions AWS checks on the caller's behalf (iam:PassRole for a role handed to a service: `implied`).
"""

# S3 operations whose IAM action is not s3:<Operation> (AWS Service Authorization Reference, Amazon S3)
S3_ACTIONS = {
    "ListBuckets": "ListAllMyBuckets", "HeadBucket": "ListBucket", "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket", "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject",
    "CopyObject": "PutObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject", "CompleteMultipartUpload": "PutObject", "DeleteObjects": "DeleteObject",
    "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration", "GetBucketLifecycle": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "DeleteBucketTagging": "PutBucketTagging", "DeleteObjectTagging": "DeleteObjectTagging",
    "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "GetBucketReplication": "GetReplicationConfiguration", "GetObjectLockConfiguration":
    "GetBucketObjectLockConfiguration", "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetBucketWebsite": "GetBucketWebsite", "DeleteBucketWebsite": "DeleteBucketWebsite",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "ListBucketInventoryConfigurations": "GetInventoryConfiguration",
    "GetBucketInventoryConfiguration": "GetInventoryConfiguration",
    "PutBucketInventoryConfiguration": "PutInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "PutInventoryConfiguration",
    "ListBucketAnalyticsConfigurations": "GetAnalyticsConfiguration",
    "ListBucketMetricsConfigurations": "GetMetricsConfiguration",
    "ListBucketIntelligentTieringConfigurations": "GetIntelligentTieringConfiguration",
    "PutBucketReplication": "PutReplicationConfiguration", "DeleteBucketReplication": "PutReplicationConfiguration",
}
# ...and those that take the Version variant when the request names a versionId
S3_VERSIONED = {"GetObject": "GetObjectVersion", "HeadObject": "GetObjectVersion",
                "DeleteObject": "DeleteObjectVersion",
                "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                "GetObjectAcl": "GetObjectVersionAcl"}

# Operations for which AWS also checks iam:PassRole (the role handed over, with iam:PassedToService)
IMPLIED = {
    ("eks", "CreateCluster"): ["iam:PassRole"], ("eks", "CreateNodegroup"): ["iam:PassRole"],
    ("ec2", "RunInstances"): ["iam:PassRole"], ("iam", "AddRoleToInstanceProfile"): ["iam:PassRole"],
    ("autoscaling", "CreateAutoScalingGroup"): ["iam:PassRole"], ("autoscaling", "UpdateAutoScalingGroup"):
    ["iam:PassRole"], ("s3", "CopyObject"): ["s3:GetObject"],
}


def s3_action(operation: str, versioned: bool = False) -> str:
    if versioned and operation in S3_VERSIONED:
        return f"s3:{S3_VERSIONED[operation]}"
    return f"s3:{S3_ACTIONS.get(operation, operation)}"


def action(service: str, operation: str) -> str:
    """The IAM action of an API operation; `service` is the signing name (s3, ec2, eks, ecr, ...)."""
    return s3_action(operation) if service == "s3" else f"{service}:{operation}"


def implied(service: str, operation: str) -> list[str]:
    return IMPLIED.get((service, operation), [])
