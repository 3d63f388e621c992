"""Local stand-in for GCS, AutoML v1, Vertex AI and Firebase ML; imports nothing from components.

Split as Google's client libraries split services and transports (and moto its backends):
    cli.py          `python -m emulator start|stop|status|reset|env` (argparse only; the
                    server loads when `start` runs)
    control.py      stop, status, reset, env of a running instance, from outside it
    instance.py     the instance's record (emulator.json), lock and env keys (stdlib only)
    server.py       the instance: ports, the data directory's lock, start/stop/reset; FACADES
    host.py         ServiceHost: what a facade's `register(host)` adds its services to
    transport/      grpc.py (one gRPC server for every API), rest.py (JSON over HTTP),
                    calls.py (what every call passes: the reset gate, the request log)
    longrunning.py  google.longrunning.Operations, shared by the gRPC APIs
    admin.py        the emulator-only admin REST API (/emulator/v1: health, env, reset, faults)
    automl_v1/      AutoML v1: auto_ml.py (AutoMl), prediction_service.py, filters, rendering
    vertex_v1/      Vertex AI: dataset_service.py, pipeline_service.py, model_service.py, ...
    firebase_ml.py  Firebase ML v1beta2 (REST)
    remote_config.py  Firebase Remote Config v1 (REST): templates, ETags, versions, rollback
    gcs.py          Cloud Storage (gcs_storage.py: its durable storage, gcs_names.py: names)
    core/           the services' behaviour, wire-neutral: datasets, models/, pipelines,
                    operations, faults, and the engine (trainer, evaluator, exporter, predictor)
Imports point one way: cli → server → facades → host, longrunning, transport → core; cli →
control → instance. Facades translate wire formats (messages, JSON, filter grammars, field
paths) to typed core calls.
"""
