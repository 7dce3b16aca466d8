"""SageMaker deployment: package, validate, plan, deploy/teardown (boto3), local container check.

Modules: ``package`` (model.tar.gz), ``container_inference`` (the ``code/inference.py`` shipped in it),
``validate`` (limits checked before any call), ``plan`` (the dry run), ``sagemaker_ops`` (boto3 calls
with rollback), ``guard`` (taken names refused or replaced before the first create), ``record`` (the
deployment record teardown reads), ``resources`` (ownership by tag, deletion), ``images`` (container
image URIs), ``local`` (the package served on loopback), ``aws`` (sessions, clients, error text without
secrets).
"""
