# K-fold training (models with kfold: K): fold datasets (fold = event mod K), one training and one
# ONNX export per fold. The `predict` rule merges the folds' out-of-fold scores (dl4hep.training.kfold).


rule kfold_datasets:
    input:
        f"{OUT}/datasets/{{task}}",
    output:
        directory(f"{OUT}/folds/{{task}}/k{{k}}"),
    log:
        f"{OUT}/logs/kfold_datasets/{{task}}/k{{k}}.log",
    benchmark:
        f"{OUT}/benchmarks/kfold_datasets/{{task}}/k{{k}}.tsv"
    wildcard_constraints:
        k=r"\d+",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=16000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        digest=lambda wc: PLAN.digest_dataset(wc.task),
    shell:
        "{params.dl4hep} -v kfold-split --config {params.config} --task {wildcards.task} --k {wildcards.k} "
        "--dataset-dir {input} --out-dir {output} > {log} 2>&1"


rule train_fold:
    input:
        lambda wc: PLAN.kfold_dir(wc.task, PLAN.folds(wc.task, wc.model)),
    output:
        best=f"{OUT}/models/{{task}}/{{model}}/fold{{fold}}/best.pt",
        history=f"{OUT}/models/{{task}}/{{model}}/fold{{fold}}/history.csv",
    log:
        f"{OUT}/logs/train/{{task}}/{{model}}/fold{{fold}}.log",
    benchmark:
        f"{OUT}/benchmarks/train/{{task}}/{{model}}/fold{{fold}}.tsv"
    wildcard_constraints:
        fold=r"\d+",
    conda:
        CONDA_ENV
    threads: model_threads
    resources:
        **job_resources(mem_mb=16000, runtime=720, gpu=train_gpus),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        out_dir=lambda wc: f"{PLAN.model_dir(wc.task, wc.model)}/fold{wc.fold}",
        digest=lambda wc: PLAN.digest_model(wc.task, wc.model),
    shell:
        "{params.dl4hep} -v train --config {params.config} --task {wildcards.task} --model {wildcards.model} "
        "--dataset-dir {input}/fold{wildcards.fold} --out-dir {params.out_dir} --nproc {resources.gpu} --resume "
        "> {log} 2>&1"


rule export_fold:
    input:
        f"{OUT}/models/{{task}}/{{model}}/fold{{fold}}/best.pt",
    output:
        f"{OUT}/models/{{task}}/{{model}}/fold{{fold}}/model.onnx",
    log:
        f"{OUT}/logs/export/{{task}}/{{model}}/fold{{fold}}.log",
    benchmark:
        f"{OUT}/benchmarks/export/{{task}}/{{model}}/fold{{fold}}.tsv"
    wildcard_constraints:
        fold=r"\d+",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    params:
        dl4hep=DL4HEP_ARG,
        model_dir=lambda wc: f"{PLAN.model_dir(wc.task, wc.model)}/fold{wc.fold}",
    shell:
        "{params.dl4hep} -v export --model-dir {params.model_dir} --out {output} > {log} 2>&1"
