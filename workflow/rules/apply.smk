# Every trained model of a task applied to each input part of its `label: null` samples (e.g.
# collision data): `dl4hep apply` builds the task's features from the ntuple with the training
# normalisation and writes scores keyed by run/luminosityBlock/event (dl4hep.plan.Plan.apply_outputs).


rule apply:
    input:
        ntuples=lambda wc: PLAN.ntuple_files(wc.task, wc.sample, wc.part),
        checkpoints=lambda wc: PLAN.checkpoints(wc.task, wc.model),
    output:
        f"{OUT}/applied/{{task}}/{{model}}/{{sample}}/{{part}}.parquet",
    log:
        f"{OUT}/logs/apply/{{task}}/{{model}}/{{sample}}/{{part}}.log",
    benchmark:
        f"{OUT}/benchmarks/apply/{{task}}/{{model}}/{{sample}}/{{part}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        model_dir=lambda wc: PLAN.model_dir(wc.task, wc.model),
        source=lambda wc: shlex.quote(PLAN.ntuple(wc.task, wc.sample, wc.part)),
        digest=lambda wc: PLAN.digest_apply(wc.task, wc.model, wc.sample),
    shell:
        "{params.dl4hep} -v apply --config {params.config} --task {wildcards.task} --sample {wildcards.sample} "
        "--model {params.model_dir} --input {params.source} --out {output} > {log} 2>&1"
