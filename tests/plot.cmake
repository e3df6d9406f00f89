# aero plot from the command line: charts next to the metrics, a comparison (PNG + SVG, PDF on
# request, log scale, Vietnamese labels), and errors that name the file and line with a
# non-zero exit.
add_test(NAME plot.cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/plot_cli.sh $<TARGET_FILE:aero>)
set_tests_properties(plot.cli PROPERTIES LABELS cli)
