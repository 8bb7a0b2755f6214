# Built-in event generation: one independently seeded job per sample chunk.


rule generate:
    output:
        f"{OUT}/ntuples/{{task}}/{{sample}}/chunk{{chunk}}.root",
    log:
        f"{OUT}/logs/generate/{{task}}/{{sample}}/chunk{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/generate/{{task}}/{{sample}}/chunk{{chunk}}.tsv"
    priority: task_priority  # tasks in the config's order (common.smk)
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=120),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        events=lambda wc: ANALYSIS.task(wc.task).samples[wc.sample].events,
        seed=lambda wc: PLAN.generation_seed(wc.sample, int(wc.chunk)),
        digest=lambda wc: PLAN.digest_generation(wc.task, wc.sample),
    shell:
        "{params.dl4hep} -v generate --config {params.config} --sample {wildcards.sample} "
        "--events {params.events} --seed {params.seed} --out {output} > {log} 2>&1"
