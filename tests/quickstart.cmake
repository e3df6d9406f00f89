# aero quickstart end to end on a small part of the Vietnamese corpus (40 documents of each
# package, 0.75 minutes of training, a fifth of it for the chat fine-tune): the GPT's validation
# loss must beat the unigram entropy of the data, and the chat fine-tune on the help pages'
# questions must lower the held-out answer loss. The second run reuses the corpus, tokenizer,
# shards, models and instruction set, and ends by itself because stdin is no terminal.
add_test(NAME quickstart.small_corpus_beats_unigram_and_reruns
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/quickstart_small_corpus.sh $<TARGET_FILE:aero>)
set_tests_properties(quickstart.small_corpus_beats_unigram_and_reruns PROPERTIES
  LABELS "cli;slow" TIMEOUT 300)
