# Data and tokenizer tests that run the aero CLI or compare with the SentencePiece Python module.

add_test(NAME data.spm_parity_python
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/spm_parity.py
                 --aero $<TARGET_FILE:aero>)
set_tests_properties(data.spm_parity_python PROPERTIES LABELS "parity;slow" TIMEOUT 300)

# Malformed input: one clear line naming the file and line (or offset), non-zero exit.
foreach(case csv_quote jsonl utf8 bz2 shard_magic shard_short)
  add_test(NAME data.error.${case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/data_error.sh $<TARGET_FILE:aero> ${case})
  set_tests_properties(data.error.${case} PROPERTIES LABELS cli)
endforeach()

# The whole path on the command line: clean -> split -> tokenizer train / add-tokens -> prepare.
add_test(NAME data.cli_pipeline
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/data_cli_pipeline.sh $<TARGET_FILE:aero>)
set_tests_properties(data.cli_pipeline PROPERTIES LABELS cli)

# CSV in, CSV out: each column cleaned on its own, rows with an emptied field or a duplicate dropped.
add_test(NAME data.cli_clean_csv
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/data_cli_clean_csv.sh $<TARGET_FILE:aero>)
set_tests_properties(data.cli_clean_csv PROPERTIES LABELS cli)

# A rule file extends the default source rules; a bad regex is one clear error.
add_test(NAME data.cli_source_rules_file
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/data_cli_source_rules_file.sh
                 $<TARGET_FILE:aero>)
set_tests_properties(data.cli_source_rules_file PROPERTIES LABELS cli)

# Streaming: a 250 MB wiki dump cleans in under 48 MB of memory.
add_test(NAME data.wiki_dump_memory_stays_flat
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/data_wiki_dump_memory_stays_flat.sh
                 $<TARGET_FILE:aero>)
set_tests_properties(data.wiki_dump_memory_stays_flat PROPERTIES LABELS slow TIMEOUT 300)

# BLEU and ROUGE against a Python implementation of sacreBLEU's and rouge-score's algorithms
# that runs their regular expressions in Python's own `re` (and the Unicode ROUGE mode with
# unicodedata), on a seeded corpus of tokenizer edge cases: identical scores and token counts.
add_test(NAME data.metrics_match_python_reference
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/metrics_ref.py
                 $<TARGET_FILE:aero> ${CMAKE_CURRENT_BINARY_DIR}/metrics_ref)
set_tests_properties(data.metrics_match_python_reference PROPERTIES LABELS "cli;parity"
                     PASS_REGULAR_EXPRESSION "metrics-reference-ok")
