# Sourced by the benchmark scripts. heldout_links SEED_DIR OUT_DIR links into OUT_DIR the
# songs continuo's --val-split 0.1 holds out: every tenth file in byte order (the 10th,
# 20th, ...), as cn_corpus_is_validation chooses them.
heldout_links() {
  i=0
  for f in $(LC_ALL=C ls "$1"/*.mid | LC_ALL=C sort); do
    [ $((i % 10)) = 9 ] && ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$2/"
    i=$((i + 1))
  done
}
