"""facewatch: KCL consumer workers for Rekognition Video face-search results.

Data flow, by package: source (KCL MultiLangDaemon + record processor) -> core (pure: records,
detections) -> sinks (OpenSearch, quarantine). sim produces records; localstack runs the servers.
"""
