# Data and tokenizer tests that run the aero CLI or compare with the SentencePiece Python module.

add_test(NAME data.spm_parity_python
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/spm_parity.py
                 --aero $<TARGET_FILE:aero>)
set_tests_properties(data.spm_parity_python PROPERTIES LABELS "parity;slow" TIMEOUT 300)

# Malformed input: one clear line naming the file and line (or offset), non-zero exit.
function(aero_data_error_test name script regex)
  add_test(NAME data.error.${name}
           COMMAND bash -c "set -u; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>; ${script}")
  set_tests_properties(data.error.${name} PROPERTIES LABELS cli PASS_REGULAR_EXPRESSION "${regex}")
endfunction()

aero_data_error_test(csv_quote
  "printf 'input_text,target_text\\na,b\\n\"open,x\\n' > p.csv; $A data clean -i p.csv -o out.txt; echo rc=$?; ls"
  "p\\.csv:3: unterminated quote.*rc=1\np\\.csv\n$")
aero_data_error_test(jsonl
  "printf '{\"text\": \"a\"}\\n{oops}\\n' > x.jsonl; $A data clean -i x.jsonl -o out.txt; echo rc=$?; ls"
  "x\\.jsonl:2: invalid JSON.*rc=1\nx\\.jsonl\n$")
aero_data_error_test(utf8
  "printf 'ok\\nbad \\xff\\n' > t.txt; $A data clean -i t.txt -o out.txt; echo rc=$?"
  "t\\.txt:2: invalid UTF-8.*rc=1")
aero_data_error_test(bz2
  "printf '<mediawiki><page><title>a</title><revision><text>xin chao</text></revision></page></mediawiki>' | bzip2 | head -c 40 > w.xml.bz2; $A data clean -i w.xml.bz2 -o out.txt; echo rc=$?; ls"
  "w\\.xml\\.bz2: truncated bzip2 stream.*rc=1\nw\\.xml\\.bz2\n$")
