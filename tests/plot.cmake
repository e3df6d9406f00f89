# aero plot from the command line: charts next to the metrics, a comparison (PNG + SVG, PDF on
# request, log scale, Vietnamese labels), and errors that name the file and line with a
# non-zero exit.
add_test(NAME plot.cli
         COMMAND bash -c "set -u; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
mkdir a b
printf '{\"step\": 0, \"loss\": 4, \"lr\": 0}\\n{\"step\": 10, \"loss\": 3, \"lr\": 1e-3, \"val_loss\": 3.2}\\n' > a/metrics.jsonl
printf '{\"step\": 0, \"val_loss\": 4.1}\\n{\"step\": 10, \"val_loss\": 3.5}\\n' > b/metrics.jsonl
$A plot a > /dev/null && ls a | tr '\\n' ' ' && echo
$A plot a b --compare --key val_loss -o cmp --label 'mọi token' --label 'token cuối' --log --format png,svg,pdf --title 'So sánh' && head -c 4 cmp.png | tail -c 3 && echo && head -c 5 cmp.pdf && echo
grep -o '<title>[^<]*</title>' cmp.svg
$A plot a --format gif; echo rc=$?
printf '{\"step\": 0}\\n{\"step\": \"x\"}\\n' > b/metrics.jsonl; $A plot b; echo rc=$?")
set_tests_properties(plot.cli PROPERTIES LABELS cli
  PASS_REGULAR_EXPRESSION "^loss.png loss.svg lr.png lr.svg metrics.jsonl \ncmp.png\ncmp.svg\ncmp.pdf\nPNG\n%PDF-\n<title>So sánh</title>\n.*unknown chart format 'gif'.*\nrc=1\n.*b/metrics.jsonl:2: \"step\" is missing or not an integer\nrc=1\n$")
