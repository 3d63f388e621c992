"""Image classification models, by resource family (as moto splits a large backend):

    records.py    Model, ModelEvaluation and their store (read, list, update, delete; the lock)
    training.py   TrainingRequest → a background `create_model` operation → a committed model
    serving.py    deployment, online prediction, batch prediction
    exports.py    model export to Cloud Storage

The service's behaviour over the facade-neutral engine (trainer, evaluator, exporter,
predictor); facades (emulator/automl_v1/, emulator/vertex_v1/) only translate: they pass typed
requests, predicates, and where their requests hold each field (for messages).
"""
