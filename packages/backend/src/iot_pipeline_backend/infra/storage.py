"""The raw and processed reading tables."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.deployment import DeploymentSettings


class ReadingStorage(Construct):
    """Two on-demand tables keyed ``device_id`` + ``sk`` (time-ordered, collision-free)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploymentSettings
    ) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        removal = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        self.raw_table = self._table("RawTable", name=names.raw_table, removal=removal)
        self.processed_table = self._table(
            "ProcessedTable", name=names.processed_table, removal=removal
        )

    def _table(self, construct_id: str, *, name: str, removal: RemovalPolicy) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            table_name=name,
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
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=constants.TTL_ATTRIBUTE,
            removal_policy=removal,
        )
