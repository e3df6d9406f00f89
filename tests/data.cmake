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
aero_data_error_test(shard_magic
  "head -c 64 /dev/zero > z.bin; $A data inspect z.bin; echo rc=$?"
  "z\\.bin: wrong magic at offset 0.*rc=1")
aero_data_error_test(shard_short
  "printf 'AEROTOK' > s.bin; $A data inspect s.bin; echo rc=$?"
  "s\\.bin: 7 bytes is shorter than the 32-byte shard header.*rc=1")

# The whole path on the command line: clean -> split -> tokenizer train / add-tokens -> prepare.
add_test(NAME data.cli_pipeline
         COMMAND bash -c "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
zcat /usr/share/doc/maint-guide-vi/maint-guide.vi.txt.gz | head -3000 > raw.txt
$A data clean -i raw.txt -o clean.txt --report report.json
grep -q '\"docs_out\"' report.json
$A data split -i clean.txt -o split --seed 7
test -s split/train.txt && test -s split/val.txt && test -s split/test.txt
$A tokenizer train -i split/train.txt -o tok.model --vocab-size 1000
$A tokenizer add-tokens -m tok.model '<TIKTOK>' '<FACEBOOK>' '<YOUTUBE>' '<COMMENT>' | grep -P '^<COMMENT>\\t1003$'
test \"$($A tokenizer encode -m tok.model -t '<YOUTUBE>')\" = 1002
$A tokenizer decode -m tok.model --ids \"$($A tokenizer encode -m tok.model -t 'Tiếng Việt <TIKTOK>')\" | grep -qx 'Tiếng Việt<TIKTOK>'
$A data prepare -i split -t tok.model -o shards
$A data inspect shards/train.bin | grep -q 'vocab 1004, end-of-text 3'
$A tokenizer info -m tok.model | grep -P -q '^special <TIKTOK>\\t1000$'
$A tokenizer train --type char -i split/train.txt -o chars.json
$A data prepare -i split/val.txt -t chars.json -o cshards
echo pipeline-ok")
set_tests_properties(data.cli_pipeline PROPERTIES LABELS cli PASS_REGULAR_EXPRESSION "pipeline-ok")

# CSV in, CSV out: each column cleaned on its own, rows with an emptied field or a duplicate dropped.
add_test(NAME data.cli_clean_csv
         COMMAND bash -c "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d
printf 'id,input_text,target_text\\n1,\"(Dân trí) - Phim   hay 😍\",\"Cảm ơn, \"\"bạn\"\"\"\\n2,Phim hay,\"Cảm ơn, \"\"bạn\"\"\"\\n3,😍😍,ok\\n4,\"một\\nhai\",Vâng ạ\\n5,,x\\n' > p.csv
$<TARGET_FILE:aero> data clean -i p.csv -o out.csv | grep -q '4 in\\|5 in'
cat out.csv")
set_tests_properties(data.cli_clean_csv PROPERTIES LABELS cli
  PASS_REGULAR_EXPRESSION "^input_text,target_text\nPhim hay,\"Cảm ơn, \"\"bạn\"\"\"\n\"một\nhai\",Vâng ạ\n$")

# A rule file extends the default source rules; a bad regex is one clear error.
add_test(NAME data.cli_source_rules_file
         COMMAND bash -c "set -u; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
printf '%s\\n' '# agencies' '^.AFP. *' > rules.txt
printf '%s\\n' '[AFP] Tin thế giới' 'TTO - Tin trong nước' > in.txt
$A data clean -i in.txt -o out.txt --source-rules rules.txt > /dev/null && cat out.txt
printf '(bad\\n' > bad.txt; $A data clean -i in.txt -o out2.txt --source-rules bad.txt; echo rc=$?")
set_tests_properties(data.cli_source_rules_file PROPERTIES LABELS cli
  PASS_REGULAR_EXPRESSION "^Tin thế giới\nTin trong nước\n.*bad source rule regex '\\(bad'.*rc=1")

# Streaming: a 250 MB wiki dump cleans in under 48 MB of memory.
add_test(NAME data.wiki_dump_memory_stays_flat
         COMMAND bash -c "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d
body=$(printf 'Hà Nội là thủ đô của Việt Nam, [[sông Hồng|sông]] {{tmpl|x}} %.0s' {1..60})
{ echo '<mediawiki>'
  yes \"<page><title>T</title><ns>0</ns><revision><text>$body</text></revision></page>\" | head -n 60000
  echo '</mediawiki>'; } > dump.xml
test $(stat -c %s dump.xml) -gt 250000000
/usr/bin/time -f 'rss_kb=%M' $<TARGET_FILE:aero> data clean -i dump.xml -o out.txt --threads 1 2> time.txt > /dev/null
rss=$(sed -n 's/^rss_kb=//p' time.txt)
echo rss_kb=$rss; test $rss -lt 49152 && echo memory-flat")
set_tests_properties(data.wiki_dump_memory_stays_flat PROPERTIES LABELS slow TIMEOUT 300
  PASS_REGULAR_EXPRESSION "memory-flat")
