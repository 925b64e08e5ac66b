# Sourced by the benchmarks that train on the seed corpus: seed_and_work sets $seed (the
# corpus, CONTINUO_SEED_DIR or ../shared/corpus/seed) and $work (a temporary folder removed
# at exit), or says the benchmark is skipped and exits when the corpus is absent.
seed_and_work() {
  seed=${CONTINUO_SEED_DIR:-../shared/corpus/seed}
  if [ ! -d "$seed" ]; then
    echo "skipped: no seed corpus at $seed (set CONTINUO_SEED_DIR)"
    exit 0
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}
