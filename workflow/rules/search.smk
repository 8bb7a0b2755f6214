# Hyperparameter search (models with a search: block): `jobs` parallel workers share one Optuna
# study (a journal file, so a re-run continues it); the report writes best.yaml, a config overlay.


rule search_worker:
    input:
        f"{OUT}/datasets/{{task}}",
    output:
        f"{OUT}/search/{{task}}/{{model}}/worker{{worker}}.json",
    log:
        f"{OUT}/logs/search/{{task}}/{{model}}/worker{{worker}}.log",
    benchmark:
        f"{OUT}/benchmarks/search/{{task}}/{{model}}/worker{{worker}}.tsv"
    wildcard_constraints:
        worker=r"\d+",
    conda:
        CONDA_ENV
    threads: model_threads
    resources:
        **job_resources(mem_mb=16000, runtime=720, gpu=train_gpus),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        out_dir=lambda wc: PLAN.search_dir(wc.task, wc.model),
        digest=lambda wc: PLAN.digest_search(wc.task, wc.model),
    shell:
        "{params.dl4hep} -v search --config {params.config} --task {wildcards.task} --model {wildcards.model} "
        "--dataset-dir {input} --out-dir {params.out_dir} --worker {wildcards.worker} --done {output} > {log} 2>&1"


rule search_report:
    input:
        lambda wc: [
            f"{PLAN.search_dir(wc.task, wc.model)}/worker{i}.json"
            for i in range(ANALYSIS.model(wc.task, wc.model).search.jobs)
        ],
    output:
        best=f"{OUT}/search/{{task}}/{{model}}/best.yaml",
        trials=f"{OUT}/search/{{task}}/{{model}}/trials.csv",
    log:
        f"{OUT}/logs/search/{{task}}/{{model}}/report.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        search_dir=lambda wc: PLAN.search_dir(wc.task, wc.model),
        digest=lambda wc: PLAN.digest_search(wc.task, wc.model),
    shell:
        "{params.dl4hep} -v search-report --config {params.config} --task {wildcards.task} "
        "--model {wildcards.model} --search-dir {params.search_dir} > {log} 2>&1"
