# The paper's variants (Owen et al. 2025) as wr-train overrides of init and TVR over a config that holds everything
# else; sourced by scripts/reproduce and scripts/quickstart, so both train the same baseline and the same LIR + TVR.
# shellcheck shell=bash disable=SC2034  # used by the scripts that source it
declare -A variant_overrides=(
  [baseline]="init.scheme=normal init.std=0.02 tvr.enabled=false"                     # the paper's baseline
  [lir]="init.scheme=lir init.std=0.006 tvr.enabled=false"                             # LIR alone
  [lir-tvr]="init.scheme=lir init.std=0.006 tvr.enabled=true tvr.threshold=1.0"        # the paper's best setting
  [lir-tvr-1.2]="init.scheme=lir init.std=0.006 tvr.enabled=true tvr.threshold=1.2"    # the authors' code's threshold
)
