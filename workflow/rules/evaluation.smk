# Metrics, plots and the model comparison of every task; plots go into the HTML report.


rule evaluate:
    input:
        dataset=f"{OUT}/datasets/{{task}}",
        predictions=lambda wc: [
            PLAN.predictions(wc.task, m, s) for m in ANALYSIS.task(wc.task).models for s in SPLITS
        ],
        histories=lambda wc: [
            f for m in ANALYSIS.task(wc.task).models for f in PLAN.histories(wc.task, m)
        ],
        # permutation importance re-runs the trained tabular models
        checkpoints=lambda wc: [
            f for m in ANALYSIS.task(wc.task).models for f in PLAN.checkpoints(wc.task, m)
        ],
    output:
        comparison_csv=f"{OUT}/evaluation/{{task}}/comparison.csv",
        comparison_md=report(
            f"{OUT}/evaluation/{{task}}/comparison.md",
            caption="../report/comparison.rst",
            category="{task}",
            subcategory="metrics",
        ),
        metrics=directory(f"{OUT}/evaluation/{{task}}/metrics"),
        plots=report(
            directory(f"{OUT}/evaluation/{{task}}/plots"),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="{task}",
            subcategory="plots",
            labels={"figure": "{name}"},
        ),
    log:
        f"{OUT}/logs/evaluate/{{task}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate/{{task}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=8000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        models=lambda wc: " ".join(
            f"--model {m} {PLAN.model_dir(wc.task, m)}" for m in ANALYSIS.task(wc.task).models
        ),
        out_dir=lambda wc: PLAN.evaluation_dir(wc.task),
        predictions_dir=lambda wc: f"{OUT}/predictions/{wc.task}",
        digest=lambda wc: PLAN.digest_evaluation(wc.task),
    shell:
        "{params.dl4hep} -v evaluate --config {params.config} --task {wildcards.task} --dataset-dir {input.dataset} "
        "--predictions-dir {params.predictions_dir} {params.models} --out-dir {params.out_dir} > {log} 2>&1"
