# Training (on the GPUs the job is given: one process per GPU, DDP above one), prediction and
# ONNX export per task x model.


rule train:
    input:
        f"{OUT}/datasets/{{task}}",
    output:
        best=f"{OUT}/models/{{task}}/{{model}}/best.pt",
        history=f"{OUT}/models/{{task}}/{{model}}/history.csv",
    log:
        f"{OUT}/logs/train/{{task}}/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/train/{{task}}/{{model}}.tsv"
    priority: task_priority  # tasks in the config's order (common.smk)
    conda:
        CONDA_ENV
    threads: model_threads
    resources:
        # gpu: training.gpus (0 for device: cpu); --nproc runs one DDP process per GPU
        **job_resources(mem_mb=16000, runtime=720, gpu=train_gpus),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        out_dir=lambda wc: PLAN.model_dir(wc.task, wc.model),
        digest=lambda wc: PLAN.digest_model(wc.task, wc.model),
    shell:
        # --resume continues from last.pt after an interruption; a checkpoint made
        # with other settings is ignored by the trainer.
        "{params.dl4hep} -v train --config {params.config} --task {wildcards.task} --model {wildcards.model} "
        "--dataset-dir {input} --out-dir {params.out_dir} --nproc {resources.gpu} --resume > {log} 2>&1"


rule predict:
    input:
        dataset=f"{OUT}/datasets/{{task}}",
        # one best.pt, or one per fold of a K-fold model (out-of-fold predictions, kfold.smk)
        best=lambda wc: PLAN.checkpoints(wc.task, wc.model),
    output:
        expand(f"{OUT}/predictions/{{{{task}}}}/{{{{model}}}}/{{split}}.parquet", split=SPLITS),
    log:
        f"{OUT}/logs/predict/{{task}}/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/predict/{{task}}/{{model}}.tsv"
    # as high as evaluate_model: a trained model's plots come before the next (long) training
    priority: 50
    conda:
        CONDA_ENV
    threads: model_threads
    resources:
        **job_resources(mem_mb=8000, runtime=60),
    params:
        dl4hep=DL4HEP_ARG,
        config=CONFIG_ARG,
        model_dir=lambda wc: PLAN.model_dir(wc.task, wc.model),
        out_dir=lambda wc: f"{OUT}/predictions/{wc.task}/{wc.model}",
        digest=lambda wc: PLAN.digest_model(wc.task, wc.model),
    shell:
        "{params.dl4hep} -v predict --config {params.config} --task {wildcards.task} --model {wildcards.model} "
        "--dataset-dir {input.dataset} --model-dir {params.model_dir} --out-dir {params.out_dir} > {log} 2>&1"


rule export:
    input:
        f"{OUT}/models/{{task}}/{{model}}/best.pt",
    output:
        f"{OUT}/models/{{task}}/{{model}}/model.onnx",
    log:
        f"{OUT}/logs/export/{{task}}/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/export/{{task}}/{{model}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    params:
        dl4hep=DL4HEP_ARG,
        model_dir=lambda wc: PLAN.model_dir(wc.task, wc.model),
    shell:
        "{params.dl4hep} -v export --model-dir {params.model_dir} --out {output} > {log} 2>&1"
