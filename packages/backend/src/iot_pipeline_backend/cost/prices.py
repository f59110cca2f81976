"""AWS list prices the cost model uses: us-east-1, on-demand, arm64 Lambda, in US dollars.

Every price names the public pricing page it comes from and the date it is known to hold
(``PRICES_AS_OF``). They are list prices recalled from those pages, not fetched at run time:
check the pages before relying on a figure, and change a number here and nowhere else.

Free tiers are left out on purpose (they are per account, not per pipeline), so small
workloads are over- rather than under-estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

#: The date the prices below are known to hold (after DynamoDB's on-demand price cut of
#: November 2024, before any later change).
PRICES_AS_OF: Final = date(2025, 1, 1)

#: AWS bills a month as 730 hours and a GB as 2**30 bytes.
HOURS_PER_MONTH: Final = 730
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600
BYTES_PER_GB: Final = 2**30
KB: Final = 1024

API_GATEWAY_PRICING: Final = "https://aws.amazon.com/api-gateway/pricing/"
LAMBDA_PRICING: Final = "https://aws.amazon.com/lambda/pricing/"
SQS_PRICING: Final = "https://aws.amazon.com/sqs/pricing/"
DYNAMODB_PRICING: Final = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
SNS_PRICING: Final = "https://aws.amazon.com/sns/pricing/"
CLOUDWATCH_PRICING: Final = "https://aws.amazon.com/cloudwatch/pricing/"
XRAY_PRICING: Final = "https://aws.amazon.com/xray/pricing/"
DATA_TRANSFER_PRICING: Final = "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """``usd`` per ``per`` units; from ``volume_tiers[i][0]`` units a month on, ``[i][1]``.

    Volume tiers count the units of one month, so :meth:`monthly_cost` takes a month's total.
    """

    name: str
    usd: float
    per: float
    unit: str
    source: str
    as_of: date = PRICES_AS_OF
    volume_tiers: tuple[tuple[float, float], ...] = ()

    def monthly_cost(self, quantity: float) -> float:
        """What ``quantity`` units used in one month cost, volume tiers applied."""
        if quantity <= 0:
            return 0.0
        bands = [(0.0, self.usd), *self.volume_tiers]
        total = 0.0
        for i, (start, usd) in enumerate(bands):
            end = bands[i + 1][0] if i + 1 < len(bands) else float("inf")
            if quantity <= start:
                break
            total += (min(quantity, end) - start) * usd / self.per
        return total


API_GATEWAY_REST_REQUEST: Final = Price(
    name="API Gateway REST API requests",
    usd=3.50,
    per=1_000_000,
    unit="request",
    source=API_GATEWAY_PRICING,
    # first 333 million a month at 3.50, next 667 million at 2.80, next 19 billion at 2.38
    volume_tiers=((333e6, 2.80), (1e9, 2.38), (20e9, 1.51)),
)
LAMBDA_REQUEST: Final = Price(
    name="Lambda requests",
    usd=0.20,
    per=1_000_000,
    unit="request",
    source=LAMBDA_PRICING,
)
LAMBDA_ARM64_GB_SECOND: Final = Price(
    name="Lambda duration, arm64",
    usd=0.0000133334,
    per=1,
    unit="GB-second",
    source=LAMBDA_PRICING,
    # first 7.5 billion GB-s a month, next 11.25 billion, then the rest
    volume_tiers=((7.5e9, 0.0000120001), (18.75e9, 0.0000106667)),
)
SQS_STANDARD_REQUEST: Final = Price(
    name="SQS standard queue requests (each 64 KB chunk of a payload is one request)",
    usd=0.40,
    per=1_000_000,
    unit="request",
    source=SQS_PRICING,
    volume_tiers=((100e9, 0.30), (200e9, 0.24)),
)
DYNAMODB_WRITE_REQUEST_UNIT: Final = Price(
    name="DynamoDB on-demand write request units (1 WRU = one write of up to 1 KB)",
    usd=0.625,
    per=1_000_000,
    unit="WRU",
    source=DYNAMODB_PRICING,
)
DYNAMODB_READ_REQUEST_UNIT: Final = Price(
    name="DynamoDB on-demand read request units (1 RRU = one strong read of up to 4 KB)",
    usd=0.125,
    per=1_000_000,
    unit="RRU",
    source=DYNAMODB_PRICING,
)
DYNAMODB_STORAGE: Final = Price(
    name="DynamoDB standard table storage",
    usd=0.25,
    per=1,
    unit="GB-month",
    source=DYNAMODB_PRICING,
)
DYNAMODB_PITR: Final = Price(
    name="DynamoDB continuous backups (point-in-time recovery)",
    usd=0.20,
    per=1,
    unit="GB-month",
    source=DYNAMODB_PRICING,
)
SNS_PUBLISH: Final = Price(
    name="SNS standard topic publishes",
    usd=0.50,
    per=1_000_000,
    unit="request",
    source=SNS_PRICING,
)
SNS_EMAIL_DELIVERY: Final = Price(
    name="SNS email notifications",
    usd=2.00,
    per=100_000,
    unit="notification",
    source=SNS_PRICING,
)
CLOUDWATCH_LOGS_INGESTION: Final = Price(
    name="CloudWatch Logs ingestion (standard log class)",
    usd=0.50,
    per=1,
    unit="GB",
    source=CLOUDWATCH_PRICING,
)
XRAY_TRACE_RECORDED: Final = Price(
    name="X-Ray traces recorded",
    usd=5.00,
    per=1_000_000,
    unit="trace",
    source=XRAY_PRICING,
)
DATA_TRANSFER_OUT: Final = Price(
    name="Data transfer out to the internet (first 10 TB a month)",
    usd=0.09,
    per=1,
    unit="GB",
    source=DATA_TRANSFER_PRICING,
)

#: Every price the model uses, in the order the breakdown lists services.
ALL_PRICES: Final[tuple[Price, ...]] = (
    API_GATEWAY_REST_REQUEST,
    LAMBDA_REQUEST,
    LAMBDA_ARM64_GB_SECOND,
    SQS_STANDARD_REQUEST,
    DYNAMODB_WRITE_REQUEST_UNIT,
    DYNAMODB_READ_REQUEST_UNIT,
    DYNAMODB_STORAGE,
    DYNAMODB_PITR,
    SNS_PUBLISH,
    SNS_EMAIL_DELIVERY,
    CLOUDWATCH_LOGS_INGESTION,
    XRAY_TRACE_RECORDED,
    DATA_TRANSFER_OUT,
)
