"""Publish the detections stream's open shard count as a CloudWatch metric, once a minute.

Target tracking scales the worker service on OpenShardCount / RunningTaskCount (shards per task);
Kinesis itself publishes no shard-count metric, and after a reshard the count changes."""

import os

import boto3

kinesis = boto3.client("kinesis")
cloudwatch = boto3.client("cloudwatch")


def open_shards(stream: str) -> int:
    count, kwargs = 0, {"StreamName": stream, "ShardFilter": {"Type": "AT_LATEST"}}
    while True:
        page = kinesis.list_shards(**kwargs)
        count += len(page["Shards"])
        if not page.get("NextToken"):
            return count
        kwargs = {"NextToken": page["NextToken"], "ShardFilter": {"Type": "AT_LATEST"}}


def handler(event, context):
    stream = os.environ["STREAM_NAME"]
    shards = open_shards(stream)
    cloudwatch.put_metric_data(
        Namespace=os.environ["METRIC_NAMESPACE"],
        MetricData=[
            {
                "MetricName": "OpenShardCount",
                "Dimensions": [{"Name": "StreamName", "Value": stream}],
                "Value": shards,
                "Unit": "Count",
            }
        ],
    )
    return {"stream": stream, "open_shards": shards}
