"""The producer moved to worker/ops/producer.py (the runtime's `quarantine redrive` uses it and the image
carries no worker/sim); re-exported here for the simulator, the benchmarks and the tests."""

from worker.ops.producer import MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, KinesisProducer, PutResult

__all__ = ["MAX_BYTES_PER_CALL", "MAX_RECORDS_PER_CALL", "KinesisProducer", "PutResult"]
