# dl4hep: ROOT ntuples -> features -> datasets -> training -> predictions -> plots.
#   snakemake --cores 2                                  # default analysis (configs/config.yaml)
#   snakemake --cores 2 --configfile configs/mini.yaml   # CI-sized run
#   snakemake --profile workflow/profiles/slurm --configfile configs/full.yaml
from snakemake.utils import min_version

min_version("8.10")


include: "workflow/rules/common.smk"
include: "workflow/rules/jobs.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/kfold.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/apply.smk"


rule all:
    default_target: True
    input:
        PLAN.targets(),
