# Metrics, plots and the model comparison of every task; plots go into the HTML report.
# A classification model is evaluated on its own as soon as it is predicted (evaluate_model, high
# priority: its ROC and confusion matrix appear early); `evaluate` then compares the models of the
# task from those outputs. A regression task is evaluated in one `evaluate` job.


rule evaluate_model:
    input:
        dataset=f"{OUT}/datasets/{{task}}",
        predictions=lambda wc: [PLAN.predictions(wc.task, wc.model, s) for s in SPLITS],
        histories=lambda wc: PLAN.histories(wc.task, wc.model),
        # permutation importance re-runs a trained tabular model
        checkpoints=lambda wc: PLAN.checkpoints(wc.task, wc.model),
    output:
        metrics=f"{OUT}/evaluation/{{task}}/models/{{model}}/metrics.json",
        confusion=f"{OUT}/evaluation/{{task}}/models/{{model}}/confusion.csv",
        curves=f"{OUT}/evaluation/{{task}}/models/{{model}}/curves.npz",
        plots=report(
            directory(f"{OUT}/evaluation/{{task}}/models/{{model}}/plots"),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="{task}",
            subcategory="plots",
            labels={"figure": "{name}"},
        ),
    log:
        f"{OUT}/logs/evaluate_model/{{task}}/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_model/{{task}}/{{model}}.tsv"
    priority: 50
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        model_dir=lambda wc: PLAN.model_dir(wc.task, wc.model),
        out_dir=lambda wc: PLAN.model_evaluation_dir(wc.task, wc.model),
        predictions_dir=lambda wc: f"{OUT}/predictions/{wc.task}",
        digest=lambda wc: PLAN.digest_model_evaluation(wc.task),
    shell:
        "{params.dl4hep} -v evaluate-model --config {params.config} --task {wildcards.task} "
        "--model {wildcards.model} --model-dir {params.model_dir} --dataset-dir {input.dataset} "
        "--predictions-dir {params.predictions_dir} --out-dir {params.out_dir} > {log} 2>&1"


rule evaluate:
    input:
        dataset=f"{OUT}/datasets/{{task}}",
        # a classification task reads the per-model evaluations, a regression task the predictions
        per_model=lambda wc: [
            f
            for m in ANALYSIS.task(wc.task).models
            for f in PLAN.model_evaluation_outputs(wc.task, m)
        ],
        predictions=lambda wc: [
            PLAN.predictions(wc.task, m, s)
            for m in ANALYSIS.task(wc.task).models
            for s in SPLITS
            if ANALYSIS.task(wc.task).kind == "regression"
        ],
        histories=lambda wc: [
            f
            for m in ANALYSIS.task(wc.task).models
            for f in PLAN.histories(wc.task, m)
            if ANALYSIS.task(wc.task).kind == "regression"
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
        "--predictions-dir {params.predictions_dir} {params.models} --out-dir {params.out_dir} --compare-only "
        "> {log} 2>&1"
