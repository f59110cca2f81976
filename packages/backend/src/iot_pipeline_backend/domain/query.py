"""Query a device's readings in a time range, a page at a time.

``next_token`` is opaque to clients: base64url of a small JSON document naming the query it
belongs to (device, table, order, range) and where to continue (``last_sk``), then ``.``,
then base64url of its HMAC-SHA256 under the pipeline's token key. A token that was forged,
corrupted, or issued for another query is rejected with :class:`InvalidNextTokenError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any, TypedDict

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem, QueryParams, QueryResponse, RawItem

from iot_pipeline_backend.errors import InvalidNextTokenError
from iot_pipeline_backend.ports import ProcessedReadingStore, RawReadingStore, TokenKeySource

_VERSION = 1


class _StoreQuery(TypedDict):
    device_id: str
    start_ms: int
    end_ms: int
    limit: int
    descending: bool
    after_sk: str | None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _query_identity(params: QueryParams, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "v": _VERSION,
        "device": params.device_id,
        "table": params.table,
        "order": params.order,
        "range": [start_ms, end_ms],
    }


def encode_next_token(identity: dict[str, Any], last_sk: str, *, key: bytes) -> str:
    """Sign ``identity`` + ``last_sk`` into an opaque token."""
    payload = json.dumps({**identity, "last_sk": last_sk}, separators=(",", ":"), sort_keys=True)
    raw = payload.encode()
    mac = hmac.new(key, raw, hashlib.sha256).digest()
    return f"{_b64encode(raw)}.{_b64encode(mac)}"


def decode_next_token(token: str, identity: dict[str, Any], *, key: bytes) -> str:
    """The ``last_sk`` of a token issued for this query, or :class:`InvalidNextTokenError`."""
    invalid = InvalidNextTokenError(
        "next_token is invalid: pass back the next_token of the previous page of this query"
    )
    payload_b64, sep, mac_b64 = token.partition(".")
    if not sep:
        raise invalid
    try:
        raw = _b64decode(payload_b64)
        mac = _b64decode(mac_b64)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(mac, hmac.new(key, raw, hashlib.sha256).digest()):
        raise invalid
    try:
        data = json.loads(raw)
    except ValueError:
        raise invalid from None
    if not isinstance(data, dict) or not isinstance(data.get("last_sk"), str):
        raise invalid
    last_sk: str = data.pop("last_sk")
    if data != identity:
        raise InvalidNextTokenError(
            "next_token belongs to a different query: keep device_id, table, order and the "
            "time range unchanged while paging"
        )
    return last_sk


def query_readings(
    params: QueryParams,
    *,
    raw_store: RawReadingStore,
    processed_store: ProcessedReadingStore,
    token_key: TokenKeySource,
) -> QueryResponse[RawItem] | QueryResponse[ProcessedItem]:
    """One page of the device's raw or processed readings.

    The token key is read only when a token is checked or issued, so a single-page query
    never depends on the secret's store.
    """
    start_ms, end_ms = keys.resolve_range(
        event_date=params.event_date, start=params.start, end=params.end
    )
    identity = _query_identity(params, start_ms, end_ms)
    after_sk = (
        None
        if params.next_token is None
        else decode_next_token(params.next_token, identity, key=token_key.token_key())
    )
    query: _StoreQuery = {
        "device_id": params.device_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "limit": params.limit,
        "descending": params.order == "desc",
        "after_sk": after_sk,
    }
    if params.table == "raw":
        raw_page = raw_store.query_raw(**query)
        token = _token(identity, raw_page.last_sk, token_key)
        return QueryResponse[RawItem](
            count=len(raw_page.records), items=raw_page.records, next_token=token
        )
    page = processed_store.query_processed(**query)
    return QueryResponse[ProcessedItem](
        count=len(page.records),
        items=page.records,
        next_token=_token(identity, page.last_sk, token_key),
    )


def _token(identity: dict[str, Any], last_sk: str | None, key: TokenKeySource) -> str | None:
    return None if last_sk is None else encode_next_token(identity, last_sk, key=key.token_key())
