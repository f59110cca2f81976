"""The three Lambda functions, their shared dependencies layer, roles and log groups."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import AssetHashType, Duration, Names, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.aws_platform import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    LOG_RETENTION,
)
from iot_pipeline_backend.infra.bundling import Bundle
from iot_pipeline_backend.infra.deployment import DeploymentSettings

#: What the processor's event source mapping calls on the queue, with the processor's role.
EVENT_SOURCE_MAPPING_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


class PipelineFunction(Construct):
    """One function with its own role (nothing granted yet) and KMS-encrypted log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        handler_module: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        timeout: Duration,
        key: kms.IKey,
        settings: DeploymentSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=settings.names.function_log_group(function_name),
            retention=LOG_RETENTION,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role, not the default one: the default attaches the managed
        # AWSLambdaBasicExecutionRole, which may write to every log group in the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: only the resources this function uses",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=f"{constants.HANDLER_MODULE}.{handler_module}.lambda_handler",
            code=code,
            layers=[layer],
            memory_size=constants.LAMBDA_MEMORY_MB,
            timeout=timeout,
            reserved_concurrent_executions=settings.reserved_concurrency or None,
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": function_name,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                "LOG_LEVEL": constants.LOG_LEVEL,
            },
        )


class PipelineFunctions(Construct):
    """``data-ingestion-``, ``data-processor-`` and ``data-query-{suffix}``.

    Permissions are granted by the stack, which knows every resource; here only code,
    runtime settings and the queue → processor event source mapping.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        bundle: Bundle,
        environment: Mapping[str, str],
        queue: sqs.IQueue,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        names, config = settings.names, settings.pipeline_config
        code = lambda_.Code.from_asset(
            str(bundle.code_dir), asset_hash=bundle.code_hash, asset_hash_type=AssetHashType.CUSTOM
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            layer_version_name=names.dependencies_layer,
            description="iot-pipeline third-party dependencies (aarch64 wheels)",
            code=lambda_.Code.from_asset(
                str(bundle.layer_dir),
                asset_hash=bundle.layer_hash,
                asset_hash_type=AssetHashType.CUSTOM,
            ),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
        )
        api_timeout = Duration.seconds(constants.API_FUNCTION_TIMEOUT_SECONDS)

        def function(
            construct_id: str, *, name: str, module: str, timeout: Duration
        ) -> PipelineFunction:
            return PipelineFunction(
                self,
                construct_id,
                function_name=name,
                handler_module=module,
                code=code,
                layer=self.layer,
                environment=environment,
                timeout=timeout,
                key=key,
                settings=settings,
            )

        self.ingestion = function(
            "Ingestion", name=names.ingestion_function, module="ingestion", timeout=api_timeout
        )
        # processing_timeout bounds one batch; the queue hides a batch six times as long
        # (settings.queue_visibility_timeout_seconds).
        self.processor = function(
            "Processor",
            name=names.processor_function,
            module="processor",
            timeout=Duration.seconds(config.processing_timeout),
        )
        self.query = function(
            "Query", name=names.query_function, module="query", timeout=api_timeout
        )
        window = config.batching_window_seconds
        # The mapping SqsEventSource would create (same construct id, so the same logical
        # id), without its grantConsumeMessages: that also grants ChangeMessageVisibility and
        # GetQueueUrl, which the mapping never calls. It polls with the function's role and
        # needs these three:
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions
        self.processor.function.add_event_source_mapping(
            f"SqsEventSource:{Names.node_unique_id(queue.node)}",
            event_source_arn=queue.queue_arn,
            batch_size=config.batch_size,
            max_batching_window=Duration.seconds(window) if window else None,
            report_batch_item_failures=True,
            max_concurrency=settings.queue_max_concurrency,
        )
        self.processor.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(EVENT_SOURCE_MAPPING_ACTIONS), resources=[queue.queue_arn]
            )
        )

    @property
    def all(self) -> tuple[PipelineFunction, ...]:
        """The three functions, in pipeline order."""
        return (self.ingestion, self.processor, self.query)
