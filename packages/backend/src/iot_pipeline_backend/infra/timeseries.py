"""The aggregates table (minute rollups, device records) and the ``/devices`` routes.

The table follows the reading tables' rules (on demand, PITR, TTL, the suffix in its name)
and is encrypted with the stack's customer-managed key. Its keys-only index ``by-listing``
lists devices in ``device_id`` order. Grants are exactly what the adapters call:

* processor: ``Query`` on the processed table (recompute a touched minute), ``GetItem`` /
  ``Query`` / ``PutItem`` on the aggregates table (``PutItem`` is what each put of its
  TransactWriteItems call is authorised as);
* query: ``GetItem`` / ``BatchGetItem`` / ``Query`` on the aggregates table and its index.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from iot_pipeline_backend.adapters.aws.timeseries import LISTING_ATTRIBUTE, LISTING_INDEX
from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.api import PipelineApi
from iot_pipeline_backend.infra.deployment import DeploymentSettings

PROCESSOR_AGGREGATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
QUERY_AGGREGATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")


class TimeSeriesStorage(Construct):
    """``aggregates-{suffix}``, keyed ``device_id`` + ``sk`` like the reading tables."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = dynamodb.Table(
            self,
            "AggregatesTable",
            table_name=settings.names.aggregates_table,
            partition_key=dynamodb.Attribute(
                name=constants.PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=constants.SORT_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=constants.TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY,
        )
        # Sparse: only device records carry the listing attribute. Keys only, and the keys of
        # a device record never change, so rewriting a record does not write to the index.
        self.table.add_global_secondary_index(
            index_name=LISTING_INDEX,
            partition_key=dynamodb.Attribute(
                name=LISTING_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=constants.PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )

    def grant(self, *, processor: iam.IRole, query: iam.IRole, processed: dynamodb.ITable) -> None:
        """Least privilege for the two functions that use the time series."""
        table = self.table.table_arn
        index = f"{table}/index/{LISTING_INDEX}"
        _allow(processor, ["dynamodb:Query"], processed.table_arn)
        # A put inside TransactWriteItems is authorised as dynamodb:PutItem:
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
        _allow(processor, PROCESSOR_AGGREGATE_ACTIONS, table)
        _allow(query, QUERY_AGGREGATE_ACTIONS, table)
        # GET /devices reads the listing index; GetItem and BatchGetItem do not read indexes.
        _allow(query, ["dynamodb:Query"], index)
        # A table under a customer-managed key is read through DynamoDB's use of the key on
        # the caller's behalf, which needs the caller's kms:Decrypt (the processor already
        # holds Decrypt and GenerateDataKey on this key for the queue):
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
        _allow(query, ["kms:Decrypt"], self.key.key_arn)


def _allow(role: iam.IRole, actions: tuple[str, ...] | list[str], *resources: str) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(actions), resources=list(resources))
    )


def add_device_routes(api: PipelineApi, query: lambda_.IFunction) -> list[apigw.Method]:
    """``GET /devices`` and ``GET /devices/{device_id}`` on the query function (AWS_IAM, the
    API's default); like every route, the handler validates the request, not the gateway."""
    devices = api.rest_api.root.add_resource("devices")
    one = devices.add_resource("{device_id}")
    return [api.add_route(devices, "GET", query), api.add_route(one, "GET", query)]
