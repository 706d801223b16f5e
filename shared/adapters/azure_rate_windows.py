"""The intake's rate-limit windows and shared secrets on Azure Table Storage (``Store.count_in_window``,
``expire_rate_windows``, ``shared_secret``).

A window is one entity in a partition of its key's own (``ratewindow-<key>``): a flood from many clients
spreads over many partitions instead of making one hot. It is counted with optimistic concurrency: read,
then replace guarded by the ETag read (or create when absent); a writer that lost the race (412, 409) reads
again. So of N instances counting at once, exactly ``limit`` succeed. Keys are hashes (the caller's), never
raw addresses."""
from __future__ import annotations

import secrets
import time
from datetime import datetime

WINDOW_PARTITION_PREFIX = "ratewindow-"
# Every window partition sorts between these two ('.' follows '-'), so one range query finds them all.
_WINDOW_PARTITIONS_END = "ratewindow."
_WINDOW_ROW = "window"
_SECRETS = "shared-secret"


def _ms(at: datetime) -> float:
    # A double (Edm.Double, exact for whole milliseconds): Tables' integers are 32-bit unless typed as Int64.
    return float(int(at.timestamp() * 1000))


def count_in_window(table, key: str, window_start: datetime, window_end: datetime, limit: int) -> bool:
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    if limit <= 0:
        return False
    partition, start, end = f"{WINDOW_PARTITION_PREFIX}{key}", _ms(window_start), _ms(window_end)
    while True:
        try:
            entity = table.get_entity(partition, _WINDOW_ROW)
        except ResourceNotFoundError:
            try:
                table.create_entity({"PartitionKey": partition, "RowKey": _WINDOW_ROW, "window_start": start,
                                     "window_end": end, "n": 1})
                return True
            except ResourceExistsError:
                continue  # another instance counted the first one: count on what it wrote
        stored_start = float(entity["window_start"])
        if start > stored_start:
            counted = {"window_start": start, "window_end": end, "n": 1}
        elif int(entity["n"]) < limit:
            counted = {"window_start": stored_start, "window_end": float(entity["window_end"]),
                       "n": int(entity["n"]) + 1}
        else:
            return False
        try:
            table.update_entity({"PartitionKey": partition, "RowKey": _WINDOW_ROW, **counted},
                                mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceNotFoundError, ResourceExistsError):
            continue  # expired (deleted) in between: create it again
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
            time.sleep(0)  # lost the race: read what the winner wrote and count again


def expire_rate_windows(table, before: datetime, limit: int) -> int:
    """Windows that ended at or before ``before``, deleted guarded by the ETag read: one counted again in the
    meantime (a new window) stays."""
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    query = ("PartitionKey ge @first and PartitionKey lt @last and window_end le @before")
    expired = table.query_entities(query, parameters={"first": WINDOW_PARTITION_PREFIX,
                                                      "last": _WINDOW_PARTITIONS_END, "before": _ms(before)},
                                   results_per_page=min(limit, 1000), select=["PartitionKey", "RowKey"])
    deleted = 0
    for entity in expired:
        if deleted >= limit:
            break
        try:
            table.delete_entity(entity["PartitionKey"], entity["RowKey"], etag=entity.metadata["etag"],
                                match_condition=MatchConditions.IfNotModified)
            deleted += 1
        except ResourceNotFoundError:
            pass
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
    return deleted


def shared_secret(table, name: str) -> bytes:
    from azure.core.exceptions import ResourceExistsError

    try:
        table.create_entity({"PartitionKey": _SECRETS, "RowKey": name, "value": secrets.token_bytes(32)})
    except ResourceExistsError:
        pass  # made before (by this or another instance): every caller reads the one that was kept
    return bytes(table.get_entity(_SECRETS, name)["value"])
