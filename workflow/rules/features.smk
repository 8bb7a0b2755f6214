# Feature building (one job per input file, or per group of files_per_job files) and dataset
# assembly (one per task). Remote inputs (root://, https://) are passed as params, not input:,
# since they are not files Snakemake can stat; a group travels as an @list file (dl4hep.plan).


rule features:
    input:
        lambda wc: PLAN.ntuple_files(wc.task, wc.sample, wc.part),
    output:
        f"{OUT}/features/{{task}}/{{sample}}/{{part}}.parquet",
    log:
        f"{OUT}/logs/features/{{task}}/{{sample}}/{{part}}.log",
    benchmark:
        f"{OUT}/benchmarks/features/{{task}}/{{sample}}/{{part}}.tsv"
    priority: task_priority  # tasks in the config's order (common.smk)
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        source=lambda wc: shlex.quote(PLAN.ntuple(wc.task, wc.sample, wc.part)),
        digest=lambda wc: PLAN.digest_features(wc.task, wc.sample),
    shell:
        "{params.dl4hep} -v features --config {params.config} --task {wildcards.task} --sample {wildcards.sample} "
        "--input {params.source} --out {output} > {log} 2>&1"


rule dataset:
    input:
        lambda wc: [path for _, path in PLAN.task_features(wc.task)],
    output:
        directory(f"{OUT}/datasets/{{task}}"),
    log:
        f"{OUT}/logs/dataset/{{task}}.log",
    benchmark:
        f"{OUT}/benchmarks/dataset/{{task}}.tsv"
    priority: task_priority  # tasks in the config's order (common.smk)
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=8000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        inputs=lambda wc: PLAN.dataset_inputs(wc.task),
        digest=lambda wc: PLAN.digest_dataset(wc.task),
    shell:
        "{params.dl4hep} -v dataset --config {params.config} --task {wildcards.task} {params.inputs} "
        "--out-dir {output} > {log} 2>&1"
