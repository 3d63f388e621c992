"""edge-labeler: specs → Pulumi resources for the AutoML Vision Edge workflow.

What lives where (dependencies point down this list's arrows: providers → cloud, data,
evaluation → spec; nothing here imports `emulator/`):
    spec/        the spec language: YAML with locations, overlays, schema and cross-document
                 rules, typed documents (SpecSet), stack config (Pulumi.<stack>.yaml)
    data/        dataset sources: safe archives and directories, image checks, the scan cache,
                 content-addressed manifests and fingerprints, CSV indexes, labels files
    evaluation/  metrics types, threshold choice, the one gate check, reports and plots
    cloud/       the one place that builds Google clients (emulator or Google), the training
                 and registry ports with their adapters, storage, records, retries
    providers/   Pulumi dynamic providers: one file per resource, a thin translation to cloud/
    graph.py     specs + stack config → the stack's resource nodes, read by every command
    resources.py the Pulumi program: the graph as Pulumi resources (`__main__.py` calls it)
    review/      `edgectl review` (plans compared), `edgectl rehearse` (a run on a fresh emulator)
    promotion/   `edgectl promote`, `history`, `status`: records between stacks, what each serves
    predict.py   the prediction core: a TF Lite model run with LiteRT on checked images
    delivery/    `edgectl predict` and `download`: the gated file from a stack's record, verified
    cli.py       `edgectl`: one parser, a subcommand per command module
    schemas/     the JSON Schemas (package data): one per kind, spec.schema.json combining
                 them for editors, review.schema.json for `edgectl review --format json`
"""
