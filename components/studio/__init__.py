"""`edgectl studio`: a local page to look at datasets, label images, choose a model's threshold
and test it — whose edits end as changes to files in Git (a labels file, a spec's threshold),
never in the cloud."""
