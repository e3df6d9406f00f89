# aero quickstart end to end on a small part of the Vietnamese corpus (40 documents of each
# package, 0.5 minutes of training): the GPT's validation loss must beat the unigram entropy of
# the data. The second run reuses the corpus, tokenizer, shards and model, and ends after the
# samples by itself because stdin is no terminal.
add_test(NAME quickstart.small_corpus_beats_unigram_and_reruns
         COMMAND bash -c "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
$A quickstart --dir q --minutes 0.5 --max-docs 40 --vocab-size 600 --threads 2 --no-chat > 1.log 2>&1 || { cat 1.log; exit 1; }
grep -E 'in Vietnamese lines|kept|val loss|unigram entropy' 1.log
awk '/quickstart: val loss/ { v = $4 } /quickstart: unigram entropy/ { u = $4 }
  END { if (v > 0 && v < u) print \"beats-unigram\", v, \"<\", u }' 1.log
test -s q/corpus.txt && test -s q/tokenizer.model && test -s q/model/loss.png && echo outputs-ok
# English left after the Vietnamese-line filter: function words are ~40% of English text, 17% of
# the raw LibreOffice help, and must be rare in the corpus.
perl -CSD -ne 'for (split) { $t++; $e++ if /^(the|and|of|to|is|for|this|that|with|you|are|be|in|on|from|or|by|an|as|it|can)$/i }
  END { printf \"English function words %.2f%% of %d words\\n\", 100 * $e / $t, $t; print \"mostly-vietnamese\\n\" if $e < 0.02 * $t }' q/corpus.txt
$A quickstart --dir q --threads 2 < /dev/null > 2.log 2>&1 || { cat 2.log; exit 1; }
grep -c reusing 2.log
test \"$(grep 'quickstart: val loss' 1.log)\" = \"$(grep 'quickstart: val loss' 2.log)\" && echo same-model
grep 'done. Chat with it' 2.log")
set_tests_properties(quickstart.small_corpus_beats_unigram_and_reruns PROPERTIES
  LABELS "cli;slow" TIMEOUT 300
  PASS_REGULAR_EXPRESSION "beats-unigram.*outputs-ok\n.*\nmostly-vietnamese\n3\nsame-model\nquickstart: done")
