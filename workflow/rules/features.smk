# Feature building (one job per input file) and dataset assembly (one per task).


rule features:
    input:
        lambda wc: PLAN.ntuple(wc.task, wc.sample, wc.part),
    output:
        f"{OUT}/features/{{task}}/{{sample}}/{{part}}.parquet",
    log:
        f"{OUT}/logs/features/{{task}}/{{sample}}/{{part}}.log",
    benchmark:
        f"{OUT}/benchmarks/features/{{task}}/{{sample}}/{{part}}.tsv"
    params:
        digest=lambda wc: PLAN.digest_features(wc.task, wc.sample),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{DL4HEP} -v features --config {CONFIG} --task {wildcards.task} --sample {wildcards.sample} "
        "--input {input} --out {output} > {log} 2>&1"


rule dataset:
    input:
        lambda wc: [path for _, path in PLAN.task_features(wc.task)],
    output:
        directory(f"{OUT}/datasets/{{task}}"),
    log:
        f"{OUT}/logs/dataset/{{task}}.log",
    benchmark:
        f"{OUT}/benchmarks/dataset/{{task}}.tsv"
    params:
        inputs=lambda wc: " ".join(f"--input {s} {p}" for s, p in PLAN.task_features(wc.task)),
        digest=lambda wc: PLAN.digest_dataset(wc.task),
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "{DL4HEP} -v dataset --config {CONFIG} --task {wildcards.task} {params.inputs} "
        "--out-dir {output} > {log} 2>&1"
